package deploycheck

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	templateDir = "../../deploy/cloudformation"
	processor   = "processor.yaml"
	forwarder   = "forwarder.yaml"
)

// mutation is one edit that breaks an invariant, and the finding it must cause.
type mutation struct {
	name     string
	template string
	edit     func(t *testing.T, tmpl *Template)
	// want is a substring of the message of the finding the edit must cause.
	want string
}

// loadTemplate parses a template from deploy/cloudformation afresh, so each test
// edits its own copy.
func loadTemplate(t *testing.T, name string) *Template {
	t.Helper()
	tmpl, err := Load(filepath.Join(templateDir, name))
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return tmpl
}

// testInvariant runs check on the deployed templates, which must pass, and on each
// mutation, which must produce the mutation's finding.
func testInvariant(t *testing.T, check func(*Template) []Finding, templates []string, mutations []mutation) {
	t.Helper()
	for _, name := range templates {
		t.Run("deployed "+name, func(t *testing.T) {
			for _, finding := range check(loadTemplate(t, name)) {
				t.Errorf("unexpected finding: %s", finding)
			}
		})
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			tmpl := loadTemplate(t, m.template)
			m.edit(t, tmpl)
			findings := check(tmpl)
			for _, finding := range findings {
				if strings.Contains(finding.Message, m.want) {
					return
				}
			}
			t.Errorf("no finding contains %q; findings: %v", m.want, findings)
		})
	}
}

// pathSegment matches one segment of a path such as
// "Resources.TaskDefinition.Properties.ContainerDefinitions[1].User".
var pathSegment = regexp.MustCompile(`^([^.\[]+)((?:\[\d+\])*)$`)

// step is one move down the tree: a mapping key or a sequence index.
type step struct {
	key   string
	index int
}

func parsePath(t *testing.T, path string) []step {
	t.Helper()
	var steps []step
	for _, segment := range strings.Split(path, ".") {
		match := pathSegment.FindStringSubmatch(segment)
		if match == nil {
			t.Fatalf("invalid path segment %q in %q", segment, path)
		}
		steps = append(steps, step{key: match[1], index: -1})
		for _, index := range regexp.MustCompile(`\d+`).FindAllString(match[2], -1) {
			number, _ := strconv.Atoi(index)
			steps = append(steps, step{index: number})
		}
	}
	return steps
}

// lookup returns the node at path, failing the test when it does not exist.
func lookup(t *testing.T, root *yaml.Node, path string) *yaml.Node {
	t.Helper()
	node := root
	for _, s := range parsePath(t, path) {
		node = child(t, node, s, path)
	}
	return node
}

func child(t *testing.T, node *yaml.Node, s step, path string) *yaml.Node {
	t.Helper()
	if s.index >= 0 {
		if node.Kind != yaml.SequenceNode || s.index >= len(node.Content) {
			t.Fatalf("path %q: no item %d", path, s.index)
		}
		return node.Content[s.index]
	}
	value := mappingValue(node, s.key)
	if value == nil {
		t.Fatalf("path %q: no key %q", path, s.key)
	}
	return value
}

// parseSnippet parses a YAML value, short-form tags included.
func parseSnippet(t *testing.T, snippet string) *yaml.Node {
	t.Helper()
	var document yaml.Node
	if err := yaml.Unmarshal([]byte(snippet), &document); err != nil {
		t.Fatalf("parse snippet %q: %v", snippet, err)
	}
	return document.Content[0]
}

// splitLast returns the node that contains the target of path, and the last step.
func splitLast(t *testing.T, tmpl *Template, path string) (*yaml.Node, step) {
	t.Helper()
	steps := parsePath(t, path)
	node := tmpl.Root
	for _, s := range steps[:len(steps)-1] {
		node = child(t, node, s, path)
	}
	return node, steps[len(steps)-1]
}

// set replaces the value at path, or adds the key when the parent mapping lacks it.
func set(path, snippet string) func(*testing.T, *Template) {
	return func(t *testing.T, tmpl *Template) {
		t.Helper()
		parent, last := splitLast(t, tmpl, path)
		value := parseSnippet(t, snippet)
		if last.index >= 0 {
			parent.Content[last.index] = value
			return
		}
		for i := 0; i+1 < len(parent.Content); i += 2 {
			if parent.Content[i].Value == last.key {
				parent.Content[i+1] = value
				return
			}
		}
		parent.Content = append(parent.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: last.key}, value)
	}
}

// remove deletes the mapping key or sequence item at path.
func remove(path string) func(*testing.T, *Template) {
	return func(t *testing.T, tmpl *Template) {
		t.Helper()
		parent, last := splitLast(t, tmpl, path)
		if last.index >= 0 {
			parent.Content = append(parent.Content[:last.index], parent.Content[last.index+1:]...)
			return
		}
		for i := 0; i+1 < len(parent.Content); i += 2 {
			if parent.Content[i].Value == last.key {
				parent.Content = append(parent.Content[:i], parent.Content[i+2:]...)
				return
			}
		}
		t.Fatalf("path %q: no key %q to remove", path, last.key)
	}
}

// appendTo adds an item to the sequence at path.
func appendTo(path, snippet string) func(*testing.T, *Template) {
	return func(t *testing.T, tmpl *Template) {
		t.Helper()
		list := lookup(t, tmpl.Root, path)
		if list.Kind != yaml.SequenceNode {
			t.Fatalf("path %q is not a list", path)
		}
		list.Content = append(list.Content, parseSnippet(t, snippet))
	}
}
