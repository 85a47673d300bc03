package deploycheck

import (
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// pseudoParameters are the names CloudFormation defines in every template.
var pseudoParameters = map[string]bool{
	"AWS::AccountId":        true,
	"AWS::NoValue":          true,
	"AWS::NotificationARNs": true,
	"AWS::Partition":        true,
	"AWS::Region":           true,
	"AWS::StackId":          true,
	"AWS::StackName":        true,
	"AWS::URLSuffix":        true,
}

// subVariable matches one ${...} placeholder of Fn::Sub; ${!Name} is a literal.
var subVariable = regexp.MustCompile(`\$\{([^}]*)\}`)

// intrinsic reports whether node is an intrinsic function call and returns its
// long-form name ("Ref", "Condition" or "Fn::<name>") and its argument. The short
// form is a node with a custom tag (!Ref, !GetAtt, !Sub, ...); the long form is a
// mapping with a single key. yaml.v3 keeps the tag on the argument node itself, so
// for the short form the argument is a copy of the node without the tag.
func intrinsic(node *yaml.Node) (string, *yaml.Node, bool) {
	if node == nil {
		return "", nil, false
	}
	if isCustomTag(node.Tag) {
		name := strings.TrimPrefix(node.Tag, "!")
		if name != "Ref" && name != "Condition" {
			name = "Fn::" + name
		}
		argument := *node
		argument.Tag = ""
		argument.Style &^= yaml.TaggedStyle
		return name, &argument, true
	}
	if node.Kind != yaml.MappingNode || len(node.Content) != 2 {
		return "", nil, false
	}
	key, argument := node.Content[0].Value, node.Content[1]
	switch {
	case key == "Ref", strings.HasPrefix(key, "Fn::"):
		return key, argument, true
	case key == "Condition" && argument.Kind == yaml.ScalarNode:
		// A one-entry mapping whose value is a condition name. An IAM statement's
		// Condition is a mapping and always sits beside Effect and Action.
		return key, argument, true
	}
	return "", nil, false
}

// isCustomTag reports whether tag is an application tag such as !Ref, as opposed to
// a YAML core tag (!!str, !!int, ...) or no tag.
func isCustomTag(tag string) bool {
	return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!")
}

// refTarget returns X for a Ref to X.
func refTarget(node *yaml.Node) (string, bool) {
	name, argument, ok := intrinsic(node)
	if !ok || name != "Ref" {
		return "", false
	}
	return literalString(argument)
}

// getAttTarget returns the resource and attribute of a Fn::GetAtt.
func getAttTarget(node *yaml.Node) (resource, attribute string, ok bool) {
	name, argument, ok := intrinsic(node)
	if !ok || name != "Fn::GetAtt" {
		return "", "", false
	}
	return parseGetAtt(argument)
}

// parseGetAtt splits the argument of a Fn::GetAtt, written as "Resource.Attribute"
// or as a two-item list.
func parseGetAtt(argument *yaml.Node) (resource, attribute string, ok bool) {
	if text, ok := literalString(argument); ok {
		resource, attribute, _ = strings.Cut(text, ".")
		return resource, attribute, resource != ""
	}
	if argument.Kind == yaml.SequenceNode && len(argument.Content) == 2 {
		resource, ok1 := literalString(argument.Content[0])
		attribute, ok2 := literalString(argument.Content[1])
		return resource, attribute, ok1 && ok2
	}
	return "", "", false
}

// subTemplate returns the format string of a Fn::Sub and its local variables.
func subTemplate(node *yaml.Node) (format string, locals map[string]*yaml.Node, ok bool) {
	name, argument, ok := intrinsic(node)
	if !ok || name != "Fn::Sub" {
		return "", nil, false
	}
	return parseSub(argument)
}

// parseSub splits the argument of a Fn::Sub, a format string or a
// [format, variables] list.
func parseSub(argument *yaml.Node) (format string, locals map[string]*yaml.Node, ok bool) {
	if text, ok := literalString(argument); ok {
		return text, nil, true
	}
	if argument.Kind != yaml.SequenceNode || len(argument.Content) != 2 {
		return "", nil, false
	}
	format, ok = literalString(argument.Content[0])
	if !ok {
		return "", nil, false
	}
	locals = map[string]*yaml.Node{}
	variables := argument.Content[1]
	for i := 0; i+1 < len(variables.Content); i += 2 {
		locals[variables.Content[i].Value] = variables.Content[i+1]
	}
	return format, locals, true
}

// subVariables returns the names inside the ${...} placeholders of a Fn::Sub format,
// skipping the ${!Literal} escapes.
func subVariables(format string) []string {
	var names []string
	for _, match := range subVariable.FindAllStringSubmatch(format, -1) {
		if strings.HasPrefix(match[1], "!") {
			continue
		}
		names = append(names, strings.TrimSpace(match[1]))
	}
	return names
}

// expression renders a value in a canonical form for comparisons and messages:
// literals as themselves, "Ref:X", "GetAtt:R.A", "Sub:<format>", and other calls as
// "<function>(...)".
func expression(node *yaml.Node) string {
	if text, ok := literalString(node); ok {
		return text
	}
	if target, ok := refTarget(node); ok {
		return "Ref:" + target
	}
	if resource, attribute, ok := getAttTarget(node); ok {
		return "GetAtt:" + resource + "." + attribute
	}
	if format, _, ok := subTemplate(node); ok {
		return "Sub:" + format
	}
	if name, _, ok := intrinsic(node); ok {
		return name + "(...)"
	}
	return "<" + node.ShortTag() + ">"
}

// scalarsWithin returns every scalar under node, descending into intrinsic arguments,
// so a literal hidden in a !Sub or a !Join is still seen.
func scalarsWithin(node *yaml.Node) []*yaml.Node {
	if node == nil {
		return nil
	}
	if node.Kind == yaml.ScalarNode {
		if _, argument, ok := intrinsic(node); ok {
			return []*yaml.Node{argument}
		}
		return []*yaml.Node{node}
	}
	var scalars []*yaml.Node
	for i, child := range node.Content {
		if node.Kind == yaml.MappingNode && i%2 == 0 {
			continue
		}
		scalars = append(scalars, scalarsWithin(child)...)
	}
	return scalars
}
