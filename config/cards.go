package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Cards is a profile's `cards:` section: the profile's targets are the
// cards that carry its marker, wherever they are mounted, and new cards are
// adopted on first sight when a rule says so. With Cards set, `target:` is
// optional.
//
//	cards:
//	  adopt:
//	    - label: MIYOO        # a card whose filesystem label is MIYOO
//	    - uuid: 1A2B-3C4D     # this one card
type Cards struct {
	Adopt []AdoptRule
}

// AdoptRule picks the unmarked cards a profile takes on first sight, by
// filesystem label or UUID (exactly one of them; both compared ignoring
// case, as FAT and exFAT labels are shown in upper case).
type AdoptRule struct {
	Label string
	UUID  string
}

// Matches reports whether a filesystem with this label and UUID is one the
// rule adopts.
func (r AdoptRule) Matches(label, uuid string) bool {
	switch {
	case r.Label != "":
		return strings.EqualFold(r.Label, label)
	case r.UUID != "":
		return strings.EqualFold(r.UUID, uuid)
	}
	return false
}

// String renders the rule as the config writes it.
func (r AdoptRule) String() string {
	if r.Label != "" {
		return "label " + r.Label
	}
	return "uuid " + r.UUID
}

// parseCards validates a raw `cards:` value: nil when absent.
func parseCards(raw any, bad func(key, format string, args ...any)) *Cards {
	if raw == nil {
		return nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		bad("cards", "must be a mapping (e.g. cards: {adopt: [{label: MIYOO}]}, or cards: {} to find marked cards only)")
		return nil
	}
	c := &Cards{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		switch strings.ToLower(k) {
		case "adopt":
			c.Adopt = parseAdopt(v, bad)
		default:
			bad("cards."+k, "unknown key (valid: adopt)")
		}
	}
	return c
}

func parseAdopt(raw any, bad func(key, format string, args ...any)) []AdoptRule {
	if raw == nil {
		return nil
	}
	list, ok := raw.([]any)
	if !ok {
		bad("cards.adopt", "must be a list of {label: NAME} or {uuid: UUID}")
		return nil
	}
	var rules []AdoptRule
	for i, item := range list {
		key := fmt.Sprintf("cards.adopt[%d]", i)
		m, ok := item.(map[string]any)
		if !ok {
			bad(key, "must be {label: NAME} or {uuid: UUID}")
			continue
		}
		var r AdoptRule
		valid := true
		for _, k := range slices.Sorted(maps.Keys(m)) {
			v := m[k]
			s, isString := v.(string)
			if !isString {
				s = fmt.Sprint(v)
			}
			s = strings.TrimSpace(s)
			switch strings.ToLower(k) {
			case "label":
				r.Label = s
			case "uuid":
				r.UUID = s
			default:
				bad(key+"."+k, "unknown key (valid: label, uuid)")
				valid = false
				continue
			}
			if s == "" || v == nil {
				bad(key+"."+strings.ToLower(k), "empty: name the card's filesystem %s", strings.ToLower(k))
				valid = false
			}
		}
		switch {
		case !valid:
		case r.Label != "" && r.UUID != "":
			bad(key, "give label or uuid, not both (write two rules to adopt either)")
		case r.Label == "" && r.UUID == "":
			bad(key, "must be {label: NAME} or {uuid: UUID}")
		default:
			rules = append(rules, r)
		}
	}
	return rules
}
