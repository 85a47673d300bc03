package flowcheck

import (
	"fmt"
	"slices"
	"strings"
)

// Rule names one property the checker proves.
type Rule string

// The rules. Their names appear in reports and are stable.
const (
	// RuleCaptureWhileRecording: a card capture is reachable while recording
	// or analytics may be on.
	RuleCaptureWhileRecording Rule = "capture-while-recording"
	// RuleExitWhileSuspended: after a suspension, the contact reaches a
	// transfer or the end of the flow without recording resumed for both
	// participants.
	RuleExitWhileSuspended Rule = "exit-while-suspended"
	// RuleUnencryptedInput: a Store customer input block stores the input
	// without encryption.
	RuleUnencryptedInput Rule = "unencrypted-stored-input"
	// RuleCardDataInContactAttribute: card data is copied into a contact
	// attribute and so into the contact record.
	RuleCardDataInContactAttribute Rule = "card-data-in-contact-attribute"
)

// Violation is one broken rule and the first path, by number of actions from
// the start, on which it breaks.
type Violation struct {
	Rule Rule
	// Block is the identifier of the offending action.
	Block string
	// Path lists action identifiers from the start action to Block.
	Path    []string
	Message string
}

// String formats the violation on two lines: the rule and message, then the path.
func (v Violation) String() string {
	return fmt.Sprintf("%s at %s: %s\n  path: %s", v.Rule, v.Block, v.Message, strings.Join(v.Path, " -> "))
}

// Action types the rules look at.
const (
	typeStoreInput  = "GetParticipantInput"
	typeLexBot      = "ConnectParticipantWithLexBot"
	typeContactAttr = "UpdateContactAttributes"
	typeFlowAttr    = "UpdateFlowAttributes"
)

// exitTypes end the flow for the contact or hand it to someone else: once one
// runs, nothing later in this flow can resume recording. Transfers that can
// fail still have error transitions, which the checker follows on.
var exitTypes = []string{
	"DisconnectParticipant",
	"TransferContactToQueue",
	"TransferContactToAgent",
	"DequeueContactAndTransferToQueue",
	"TransferToFlow",
	"TransferParticipantToThirdParty",
	"EndFlowExecution",
	"EndFlowModuleExecution",
}

// attributeSinks maps action types that write data kept with the contact to
// the parameter that holds it: contact attributes, the attributes of a task
// created from the contact, and contact tags.
var attributeSinks = map[string]string{
	typeContactAttr: "Attributes",
	"CreateTask":    "Attributes",
	"TagContact":    "Tags",
}

// cardDataReferences are JSONPath prefixes of flow data that hold card data,
// encrypted or not: the stored customer input, Lex slot values, and the
// session attributes in which the Lex fulfillment function returns
// ciphertexts.
var cardDataReferences = []string{
	"$.StoredCustomerInput",
	"$.Lex.Slots.",
	"$.Lex.SessionAttributes.encryptedCardToken",
	"$.Lex.SessionAttributes.encryptedExpiryToken",
	"$.Lex.SessionAttributes.encryptedCvvToken",
}

// state describes a path at the point where it reaches an action.
type state struct {
	rec recording
	// suspendedOnPath is true once recording was suspended on the path.
	suspendedOnPath bool
	// tainted lists, sorted and joined by commas, the flow attributes that
	// hold card data; a string keeps the state comparable.
	tainted string
}

// visit is an (action, state) pair; the search explores each one once.
type visit struct {
	action int
	state  state
}

// node is one explored (action, state) pair and how the search reached it.
type node struct {
	action int
	state  state
	parent *node
}

// Check returns the violations of f, at most one for each rule and offending
// action, each with the first path that reaches it. An error means that a
// recording block could not be read, so nothing was proven.
func Check(f *Flow) ([]Violation, error) {
	start := &node{action: f.index[f.StartAction]}
	seen := map[visit]bool{{start.action, start.state}: true}
	queue := []*node{start}
	reported := map[string]bool{}
	var violations []Violation

	report := func(n *node, rule Rule, message string) {
		id := f.Actions[n.action].Identifier
		key := string(rule) + "\x00" + id
		if reported[key] {
			return
		}
		reported[key] = true
		violations = append(violations, Violation{Rule: rule, Block: id, Path: f.path(n), Message: message})
	}

	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		a := f.Actions[n.action]

		for _, v := range checkAction(a, n.state) {
			report(n, v.rule, v.message)
		}
		next, err := transfer(a, n.state)
		if err != nil {
			return nil, err
		}
		for _, id := range a.successors() {
			child := &node{action: f.index[id], state: next, parent: n}
			key := visit{child.action, child.state}
			if !seen[key] {
				seen[key] = true
				queue = append(queue, child)
			}
		}
	}
	return violations, nil
}

type finding struct {
	rule    Rule
	message string
}

// checkAction tests the rules that apply where a is reached with state s.
//
// NOTE: An InvokeFlowModule action counts as an ordinary block: a module that
// captures card data or changes the recording behavior is not seen here and
// must be checked on its own.
func checkAction(a Action, s state) []finding {
	var found []finding
	capture := a.Type == typeLexBot || (a.Type == typeStoreInput && isTrue(a.stringParam("StoreInput")))
	if capture && !s.rec.suspended() {
		found = append(found, finding{RuleCaptureWhileRecording,
			fmt.Sprintf("%s captures card data while recording is not suspended: %s", a.Type, s.rec.whyNotSuspended())})
	}
	if a.Type == typeStoreInput && isTrue(a.stringParam("StoreInput")) {
		if a.stringParam("InputEncryption", "EncryptionKeyId") == "" || a.stringParam("InputEncryption", "Key") == "" {
			found = append(found, finding{RuleUnencryptedInput,
				"Store customer input stores the input without encryption: set InputEncryption.EncryptionKeyId and InputEncryption.Key"})
		}
	}
	if s.suspendedOnPath && (slices.Contains(exitTypes, a.Type) || len(a.successors()) == 0) && !s.rec.resumed() {
		found = append(found, finding{RuleExitWhileSuspended,
			fmt.Sprintf("%s ends or transfers the contact while %s; resume recording for Agent and Customer first", a.Type, s.rec.whyNotResumed())})
	}
	if param, ok := attributeSinks[a.Type]; ok {
		for _, ref := range cardDataIn(a.param(param), s.taintedSet()) {
			found = append(found, finding{RuleCardDataInContactAttribute,
				fmt.Sprintf("%s copies %s into the contact record", a.Type, ref)})
		}
	}
	return found
}

// transfer returns the state after a runs.
func transfer(a Action, s state) (state, error) {
	rec, changed, err := applyRecording(s.rec, a)
	if err != nil {
		return s, err
	}
	if changed {
		s.rec = rec
		if rec.suspended() {
			s.suspendedOnPath = true
		}
	}
	if a.Type == typeFlowAttr {
		s.tainted = updateTaint(a, s.taintedSet())
	}
	return s, nil
}

// updateTaint returns the tainted flow attributes after an
// UpdateFlowAttributes action: an attribute set from card data becomes
// tainted, one set from anything else becomes clean. Every value is read
// against the attributes as they were before the action.
func updateTaint(a Action, before []string) string {
	attrs, _ := a.param("FlowAttributes").(map[string]any)
	after := slices.Clone(before)
	for name, value := range attrs {
		holdsCardData := len(cardDataIn(value, before)) > 0
		i := slices.Index(after, name)
		switch {
		case holdsCardData && i < 0:
			after = append(after, name)
		case !holdsCardData && i >= 0:
			after = slices.Delete(after, i, i+1)
		}
	}
	slices.Sort(after)
	return strings.Join(after, ",")
}

func (s state) taintedSet() []string {
	if s.tainted == "" {
		return nil
	}
	return strings.Split(s.tainted, ",")
}

// cardDataIn returns the card data references found in any string (key or
// value) inside v.
func cardDataIn(v any, taintedFlowAttributes []string) []string {
	var refs []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			for _, prefix := range cardDataReferences {
				for _, ref := range referencesWithPrefix(v, prefix) {
					if !slices.Contains(refs, ref) {
						refs = append(refs, ref)
					}
				}
			}
			for _, name := range taintedFlowAttributes {
				ref := "$.FlowAttributes." + name
				described := ref + " (which holds card data)"
				if referencesAttribute(v, ref) && !slices.Contains(refs, described) {
					refs = append(refs, described)
				}
			}
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				walk(k)
				walk(v[k])
			}
		case []any:
			for _, item := range v {
				walk(item)
			}
		}
	}
	walk(v)
	return refs
}

// referencesWithPrefix returns each JSONPath in s that starts with prefix,
// extended to the end of its name (so "$.Lex.Slots." yields
// "$.Lex.Slots.CardNumber").
func referencesWithPrefix(s, prefix string) []string {
	var refs []string
	for rest := s; ; {
		i := strings.Index(rest, prefix)
		if i < 0 {
			return refs
		}
		end := i + len(prefix)
		for end < len(rest) && (isNameByte(rest[end]) || rest[end] == '.') {
			end++
		}
		refs = append(refs, rest[i:end])
		rest = rest[end:]
	}
}

// referencesAttribute reports whether s contains the JSONPath ref as a whole
// name, so that $.FlowAttributes.pan does not match $.FlowAttributes.panLast4.
func referencesAttribute(s, ref string) bool {
	for i := strings.Index(s, ref); i >= 0; {
		end := i + len(ref)
		if end == len(s) || !isNameByte(s[end]) {
			return true
		}
		next := strings.Index(s[end:], ref)
		if next < 0 {
			return false
		}
		i = end + next
	}
	return false
}

func isNameByte(c byte) bool {
	return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// path lists the action identifiers from the start to n.
func (f *Flow) path(n *node) []string {
	var ids []string
	for ; n != nil; n = n.parent {
		ids = append(ids, f.Actions[n.action].Identifier)
	}
	slices.Reverse(ids)
	return ids
}
