package platform

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDiscStyles(t *testing.T) {
	for _, c := range []struct {
		layout string
		want   DiscStyle
	}{
		{"onion", DiscsHidden},
		{"minui", DiscsFolder},
		{"muos", DiscsFlat},
		{"knulli", DiscsFlat}, // an alias of batocera
		{"batocera", DiscsFlat},
		{"rocknix", DiscsFlat},
		{"spruce", DiscsHidden},
		{"crossmix", DiscsAsIs}, // no m3u generator found in CrossMix-OS
		{"es", DiscsAsIs},
		{"pocket", DiscsAsIs},
		{"", DiscsAsIs},
	} {
		l, err := NewLayout(Options{Layout: c.layout})
		require.NoError(t, err)
		got, src := l.DiscStyle()
		assert.Equal(t, c.want, got, c.layout)
		if got != DiscsAsIs {
			assert.Regexp(t, `^\S+/\S+ .* @[0-9a-f]{40} `, src, c.layout)
		}
	}
}

func TestParseDiscsRejects(t *testing.T) {
	head := "layout\tstyle\tsource\n"
	for name, text := range map[string]string{
		"no header":    "onion\thidden\tsrc\n",
		"alias":        head + "knulli\tflat\tsrc\n",
		"unknown":      head + "nope\tflat\tsrc\n",
		"bad style":    head + "onion\tsideways\tsrc\n",
		"no source":    head + "onion\thidden\t \n",
		"short row":    head + "onion\thidden\n",
		"listed twice": head + "onion\thidden\ta\nonion\tflat\tb\n",
	} {
		_, err := parseDiscs(text)
		assert.Error(t, err, name)
	}
}
