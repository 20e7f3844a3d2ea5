package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryProblemInFileOrder: a config with several problems reports all
// of them at once, in file order, each with its line, and the same way on
// every run (issue 10, point 6: one per run, in map order, before).
func TestEveryProblemInFileOrder(t *testing.T) {
	const y = `state_dir: out/state
colour: blue
profiles:
  - name: gba
    source: lib
    destination: /media/sd
    target: /media/sd/Roms
    workers: 0
    mode: sync
    speed: fast
  - name: gb
    source: lib
    target: /media/sd2
    verfy: true
loglevel: debug
`
	want := []string{
		"config c.yaml: line 2: colour: unknown key (valid: log_level, metrics_allow_remote, metrics_listen, profiles, socket, state_dir)",
		"config c.yaml: line 6: profiles[0] (gba).destination: unknown key (valid: ",
		"config c.yaml: line 8: profiles[0] (gba).workers: 0 is not between 1 and 64",
		"config c.yaml: line 9: profiles[0] (gba).mode: \"sync\" is not mirror or update",
		"config c.yaml: line 10: profiles[0] (gba).speed: unknown key (valid: ",
		"config c.yaml: line 14: profiles[1] (gb).verfy: unknown key (valid: ",
		"config c.yaml: line 15: loglevel: unknown key (valid: ",
	}
	for run := 0; run < 20; run++ {
		_, err := parse("c.yaml", "/etc", []byte(y), nil)
		require.Error(t, err)
		var es Errors
		require.True(t, errors.As(err, &es), "%T: %v", err, err)
		lines := strings.Split(err.Error(), "\n")
		require.Len(t, lines, len(want), "%s", err)
		for i, w := range want {
			assert.True(t, strings.HasPrefix(lines[i], w), "line %d of the report: %q, want %q…", i, lines[i], w)
		}
		var ce *Error
		require.True(t, errors.As(err, &ce), "errors.As finds a *Error in Errors")
		assert.Equal(t, 2, ce.Line)
	}
}

// TestTabInIndentation names the line of the tab and says it is a tab.
func TestTabInIndentation(t *testing.T) {
	y := "profiles:\n  - name: a\n\t  source: /s\n    target: /t\n"
	_, err := parse("c.yaml", "/etc", []byte(y), nil)
	require.Error(t, err)
	assert.Equal(t, "config c.yaml: line 3: tabs are not allowed in YAML indentation; indent with spaces", err.Error())

	// A tab inside a value is no indentation.
	_, err = parse("c.yaml", "/etc", []byte("profiles:\n  - {name: a, source: \"/s\tx\", target: /t}\n"), nil)
	require.NoError(t, err)
}
