// Package deploycheck parses the CloudFormation templates under deploy/cloudformation
// and checks the security invariants the deployment relies on. Containers run as
// non-root with a read-only root filesystem. Logs are kept a year and encrypted. The
// payments key's policy separates encryption from decryption. No principal is a
// wildcard, no ingress is open, the database is encrypted and private, and every
// reference resolves.
//
// Templates are read as gopkg.in/yaml.v3 nodes, so the short-form intrinsic tags
// (!Ref, !Sub, !GetAtt, ...) survive parsing and are treated like their long forms.
package deploycheck

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Template is one parsed CloudFormation template.
type Template struct {
	// Name is the file's base name, used to label findings.
	Name string
	// Root is the top-level mapping node of the document.
	Root *yaml.Node
}

// Resource is one entry of the template's Resources section.
type Resource struct {
	// ID is the logical id.
	ID string
	// Type is the resource type, such as AWS::ECS::TaskDefinition.
	Type string
	// Node is the resource's mapping (Type, Properties, Condition, DependsOn, ...).
	Node *yaml.Node
	// Properties is the Properties mapping, or nil when the resource has none.
	Properties *yaml.Node
}

// Finding is one violated invariant.
type Finding struct {
	// Template is the template's file name.
	Template string
	// Path locates the offending value, for example
	// "Resources.TaskDefinition.Properties.ContainerDefinitions[0].User".
	Path string
	// Message explains what is wrong and what the invariant requires.
	Message string
}

// String formats the finding as "template: path: message".
func (f Finding) String() string {
	return f.Template + ": " + f.Path + ": " + f.Message
}

// Load reads and parses the template at path.
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	return Parse(filepath.Base(path), data)
}

// Parse parses a template document; name labels its findings.
func Parse(name string, data []byte) (*Template, error) {
	var document yaml.Node
	if err := yaml.Unmarshal(data, &document); err != nil {
		return nil, fmt.Errorf("parse template %q: %w", name, err)
	}
	if document.Kind != yaml.DocumentNode || len(document.Content) != 1 || document.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("parse template %q: the document is not a mapping", name)
	}
	root := document.Content[0]
	resources := mappingValue(root, "Resources")
	if resources == nil || resources.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("parse template %q: no Resources mapping", name)
	}
	return &Template{Name: name, Root: root}, nil
}

// Clone returns a deep copy, so a test can change it without touching the original.
func (t *Template) Clone() *Template {
	return &Template{Name: t.Name, Root: cloneNode(t.Root)}
}

// Section returns the top-level mapping with the given name (Parameters, Resources,
// Conditions, ...), or nil.
func (t *Template) Section(name string) *yaml.Node {
	section := mappingValue(t.Root, name)
	if section == nil || section.Kind != yaml.MappingNode {
		return nil
	}
	return section
}

// Resources returns the resources in document order.
func (t *Template) Resources() []Resource {
	section := t.Section("Resources")
	if section == nil {
		return nil
	}
	resources := make([]Resource, 0, len(section.Content)/2)
	for i := 0; i+1 < len(section.Content); i += 2 {
		node := section.Content[i+1]
		resource := Resource{ID: section.Content[i].Value, Node: node}
		if typ, ok := literalString(mappingValue(node, "Type")); ok {
			resource.Type = typ
		}
		if properties := mappingValue(node, "Properties"); properties != nil && properties.Kind == yaml.MappingNode {
			resource.Properties = properties
		}
		resources = append(resources, resource)
	}
	return resources
}

// Resource returns the resource with the given logical id.
func (t *Template) Resource(id string) (Resource, bool) {
	for _, resource := range t.Resources() {
		if resource.ID == id {
			return resource, true
		}
	}
	return Resource{}, false
}

// ResourcesOfType returns the resources of one type in document order.
func (t *Template) ResourcesOfType(typ string) []Resource {
	var matches []Resource
	for _, resource := range t.Resources() {
		if resource.Type == typ {
			matches = append(matches, resource)
		}
	}
	return matches
}

// Parameter returns the declaration of a parameter, or nil.
func (t *Template) Parameter(name string) *yaml.Node {
	return mappingValue(t.Section("Parameters"), name)
}

// path returns the finding path of a resource property: "Resources.<id>.Properties.<rest>".
func (r Resource) path(rest string) string {
	if rest == "" {
		return "Resources." + r.ID
	}
	return "Resources." + r.ID + ".Properties." + rest
}

// mappingValue returns the value of key in a mapping node, or nil.
func mappingValue(mapping *yaml.Node, key string) *yaml.Node {
	if mapping == nil || mapping.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(mapping.Content); i += 2 {
		if mapping.Content[i].Value == key {
			return mapping.Content[i+1]
		}
	}
	return nil
}

// literalString returns the value of a plain scalar that is not an intrinsic function.
func literalString(node *yaml.Node) (string, bool) {
	if node == nil || node.Kind != yaml.ScalarNode || isCustomTag(node.Tag) {
		return "", false
	}
	return node.Value, true
}

// literalInt returns the value of a scalar that holds a literal integer.
func literalInt(node *yaml.Node) (int, bool) {
	value, ok := literalString(node)
	if !ok {
		return 0, false
	}
	number, err := strconv.Atoi(value)
	if err != nil {
		return 0, false
	}
	return number, true
}

// literalBool returns the value of a scalar that holds a literal true or false,
// written as YAML booleans or as the strings CloudFormation also accepts.
func literalBool(node *yaml.Node) (bool, bool) {
	value, ok := literalString(node)
	if !ok {
		return false, false
	}
	switch value {
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	}
	return false, false
}

// sequenceItems returns the items of a sequence node, or the node itself when it is a
// single value in a place where CloudFormation also accepts a list (Action, DependsOn).
func sequenceItems(node *yaml.Node) []*yaml.Node {
	if node == nil {
		return nil
	}
	if node.Kind == yaml.SequenceNode && !isCustomTag(node.Tag) {
		return node.Content
	}
	return []*yaml.Node{node}
}

func cloneNode(node *yaml.Node) *yaml.Node {
	if node == nil {
		return nil
	}
	copied := *node
	if node.Content != nil {
		copied.Content = make([]*yaml.Node, len(node.Content))
		for i, child := range node.Content {
			copied.Content[i] = cloneNode(child)
		}
	}
	copied.Alias = cloneNode(node.Alias)
	return &copied
}
