// Package flowcheck proves PCI properties of an Amazon Connect contact flow,
// written in the Amazon Connect flow language (version 2019-10-30), over every
// path of its graph:
//
//   - each card capture (a GetParticipantInput action with StoreInput, which
//     is the "Store customer input" block, and each ConnectParticipantWithLexBot
//     action) runs while recording is suspended: no participant recorded, IVR
//     recording disabled and analytics off;
//   - once recording was suspended, it is resumed for both the agent and the
//     customer before the contact is transferred or the flow ends;
//   - every stored input is encrypted;
//   - card data ($.StoredCustomerInput, a flow attribute copied from it, Lex
//     slots and the Lex token session attributes) is never copied into a
//     contact attribute, which would put it in the contact record.
//
// The checker explores (action, state) pairs breadth-first, where the state is
// the recording behavior and the set of flow attributes that hold card data,
// so loops terminate and each reported path is a shortest one. It does not
// evaluate conditions: every transition counts as possible, so a reported path
// may be one that no contact can take, but no path is left out.
package flowcheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// FlowVersion is the only flow language version Amazon Connect accepts.
const FlowVersion = "2019-10-30"

// Flow is a contact flow in the Amazon Connect flow language.
type Flow struct {
	Version     string   `json:"Version"`
	StartAction string   `json:"StartAction"`
	Actions     []Action `json:"Actions"`

	index map[string]int
}

// Action is one block of a flow.
type Action struct {
	Identifier  string         `json:"Identifier"`
	Type        string         `json:"Type"`
	Parameters  map[string]any `json:"Parameters"`
	Transitions Transitions    `json:"Transitions"`
}

// Transitions are the edges out of an action.
type Transitions struct {
	NextAction string            `json:"NextAction"`
	Conditions []Condition       `json:"Conditions"`
	Errors     []ErrorTransition `json:"Errors"`
}

// Condition is an edge taken when the action's result matches.
type Condition struct {
	NextAction string `json:"NextAction"`
}

// ErrorTransition is an edge taken on the named error.
type ErrorTransition struct {
	NextAction string `json:"NextAction"`
	ErrorType  string `json:"ErrorType"`
}

// Parse decodes a flow and checks its structure: the version, unique action
// identifiers, and that the start action and every transition name an action
// of the flow.
func Parse(data []byte) (*Flow, error) {
	var f Flow
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("invalid flow JSON: %w", err)
	}
	if f.Version != FlowVersion {
		return nil, fmt.Errorf("invalid flow: Version is %q, want %q", f.Version, FlowVersion)
	}
	if len(f.Actions) == 0 {
		return nil, errors.New("invalid flow: no Actions")
	}

	f.index = make(map[string]int, len(f.Actions))
	for i, a := range f.Actions {
		if a.Identifier == "" {
			return nil, fmt.Errorf("invalid flow: action %d (%s) has no Identifier", i, a.Type)
		}
		if _, dup := f.index[a.Identifier]; dup {
			return nil, fmt.Errorf("invalid flow: Identifier %q is used by more than one action", a.Identifier)
		}
		f.index[a.Identifier] = i
	}
	if _, ok := f.index[f.StartAction]; !ok {
		return nil, fmt.Errorf("invalid flow: StartAction %q is not an action of the flow", f.StartAction)
	}

	var missing []string
	for _, a := range f.Actions {
		for _, next := range a.successors() {
			if _, ok := f.index[next]; !ok {
				missing = append(missing, fmt.Sprintf("%s -> %s", a.Identifier, next))
			}
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("invalid flow: transitions to unknown actions: %s", strings.Join(missing, ", "))
	}
	return &f, nil
}

// Action returns the action with the given identifier.
func (f *Flow) Action(id string) (Action, bool) {
	i, ok := f.index[id]
	if !ok {
		return Action{}, false
	}
	return f.Actions[i], true
}

// successors lists the distinct actions that a can transition to, in the
// order NextAction, Conditions, Errors.
func (a Action) successors() []string {
	var next []string
	add := func(id string) {
		if id != "" && !contains(next, id) {
			next = append(next, id)
		}
	}
	add(a.Transitions.NextAction)
	for _, c := range a.Transitions.Conditions {
		add(c.NextAction)
	}
	for _, e := range a.Transitions.Errors {
		add(e.NextAction)
	}
	return next
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// param walks nested parameter objects by key and returns the value found, or
// nil when any key is missing.
func (a Action) param(keys ...string) any {
	var v any = a.Parameters
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// stringParam returns a string parameter, or "" when it is missing or not a
// string.
func (a Action) stringParam(keys ...string) string {
	s, _ := a.param(keys...).(string)
	return s
}

// isTrue reports whether a flow language boolean ("True" or "False", which
// some exports write in lower case) is true.
func isTrue(s string) bool { return strings.EqualFold(s, "true") }
