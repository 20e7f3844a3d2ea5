package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCardsMakeTargetOptional(t *testing.T) {
	const y = `profiles:
  - name: miyoo
    source: lib
    layout: onion
    eject: true
    cards:
      adopt:
        - label: MIYOO
        - uuid: 1a2b-3C4D
  - name: pocket
    source: lib2
    cards: {}
  - name: fixed
    source: lib3
    target: /media/sd
`
	cfg, err := parse("c.yaml", "/etc", []byte(y), nil)
	require.NoError(t, err)
	miyoo, _ := cfg.Profile("miyoo")
	assert.Equal(t, "", miyoo.Target)
	assert.Equal(t, "/etc/lib", miyoo.Source)
	assert.True(t, miyoo.Eject)
	require.NotNil(t, miyoo.Cards)
	assert.Equal(t, []AdoptRule{{Label: "MIYOO"}, {UUID: "1a2b-3C4D"}}, miyoo.Cards.Adopt)
	pocket, _ := cfg.Profile("pocket")
	require.NotNil(t, pocket.Cards)
	assert.Empty(t, pocket.Cards.Adopt)
	fixed, _ := cfg.Profile("fixed")
	assert.Nil(t, fixed.Cards)
	assert.False(t, fixed.Eject)
}

func TestAdoptRuleMatches(t *testing.T) {
	tests := []struct {
		rule        AdoptRule
		label, uuid string
		want        bool
	}{
		{AdoptRule{Label: "MIYOO"}, "miyoo", "", true},
		{AdoptRule{Label: "MIYOO"}, "MIYOO1", "", false},
		{AdoptRule{Label: "MIYOO"}, "", "MIYOO", false},
		{AdoptRule{UUID: "1a2b-3c4d"}, "X", "1A2B-3C4D", true},
		{AdoptRule{UUID: "1a2b-3c4d"}, "1a2b-3c4d", "", false},
		{AdoptRule{}, "", "", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.rule.Matches(tt.label, tt.uuid), "%v matches %q %q", tt.rule, tt.label, tt.uuid)
	}
}

func TestCardsRejects(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"no target nor cards", "profiles: [{name: a, source: /s}]", `profiles[0] (a).target: required (the folder on the card)`},
		{"cards not a mapping", "profiles: [{name: a, source: /s, cards: [MIYOO]}]", `line 1: profiles[0] (a).cards: must be a mapping`},
		{"unknown cards key", "profiles: [{name: a, source: /s, cards: {adpot: []}}]", `profiles[0] (a).cards.adpot: unknown key (valid: adopt)`},
		{"adopt not a list", "profiles: [{name: a, source: /s, cards: {adopt: MIYOO}}]", `profiles[0] (a).cards.adopt: must be a list`},
		{"rule not a mapping", "profiles: [{name: a, source: /s, cards: {adopt: [MIYOO]}}]", `profiles[0] (a).cards.adopt[0]: must be {label: NAME} or {uuid: UUID}`},
		{"both", "profiles: [{name: a, source: /s, cards: {adopt: [{label: A, uuid: B}]}}]", `cards.adopt[0]: give label or uuid, not both`},
		{"empty label", "profiles: [{name: a, source: /s, cards: {adopt: [{label: ''}]}}]", `cards.adopt[0].label: empty`},
		{"null uuid", "profiles: [{name: a, source: /s, cards: {adopt: [{uuid: }]}}]", `cards.adopt[0].uuid: empty`},
		{"unknown rule key", "profiles: [{name: a, source: /s, cards: {adopt: [{serial: X}]}}]", `cards.adopt[0].serial: unknown key (valid: label, uuid)`},
		{"bad eject", "profiles: [{name: a, source: /s, target: /t, eject: maybe}]", `eject`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse("cfg.yaml", "/etc", []byte(tt.yaml), nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.True(t, strings.HasPrefix(err.Error(), "config cfg.yaml: "), err.Error())
		})
	}
}

// TestCardsErrorLines: a problem inside cards: is reported at the line of
// the nearest key the file has (here adopt:).
func TestCardsErrorLines(t *testing.T) {
	const y = `profiles:
  - name: a
    source: /s
    cards:
      adopt:
        - label: MIYOO
        - {}
`
	_, err := parse("c.yaml", "/etc", []byte(y), nil)
	require.Error(t, err)
	assert.Equal(t, "config c.yaml: line 5: profiles[0] (a).cards.adopt[1]: must be {label: NAME} or {uuid: UUID}", err.Error())
}

func TestCardsFromEnvironmentRefused(t *testing.T) {
	_, err := parse("c.yaml", "/etc", []byte("profiles: [{name: a, source: /s, target: /t}]"), []string{"ROMSYNCD_PROFILE_A_CARDS=x"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "list and map keys cannot be set from the environment")
}
