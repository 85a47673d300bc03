package deploycheck

import (
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// CheckReferences reports every Ref, Fn::GetAtt, Fn::Sub variable, DependsOn, Condition
// and Fn::FindInMap that names nothing declared, Refs to resources from the Conditions
// and Rules sections (where only parameters exist), and parameters that nothing uses.
func CheckReferences(t *Template) []Finding {
	v := &referenceVisitor{
		report:     newReport(t),
		parameters: sectionKeys(t.Section("Parameters")),
		resources:  sectionKeys(t.Section("Resources")),
		conditions: sectionKeys(t.Section("Conditions")),
		mappings:   sectionKeys(t.Section("Mappings")),
		used:       map[string]bool{},
	}

	for _, resource := range t.Resources() {
		path := "Resources." + resource.ID
		v.checkCondition(mappingValue(resource.Node, "Condition"), path+".Condition")
		for _, item := range sequenceItems(mappingValue(resource.Node, "DependsOn")) {
			if name, _ := literalString(item); !v.resources[name] {
				v.report.add(path+".DependsOn", "DependsOn names %q, which is not a resource", item.Value)
			}
		}
		for _, attribute := range []string{"Properties", "Metadata", "CreationPolicy", "UpdatePolicy"} {
			if node := mappingValue(resource.Node, attribute); node != nil {
				v.visit(node, path+"."+attribute, true)
			}
		}
	}
	if outputs := t.Section("Outputs"); outputs != nil {
		for i := 0; i+1 < len(outputs.Content); i += 2 {
			path := "Outputs." + outputs.Content[i].Value
			v.checkCondition(mappingValue(outputs.Content[i+1], "Condition"), path+".Condition")
			v.visit(mappingValue(outputs.Content[i+1], "Value"), path+".Value", true)
			v.visit(mappingValue(outputs.Content[i+1], "Export"), path+".Export", true)
		}
	}
	for _, section := range []string{"Conditions", "Rules"} {
		if node := t.Section(section); node != nil {
			v.visit(node, section, false)
		}
	}

	if parameters := t.Section("Parameters"); parameters != nil {
		for i := 0; i+1 < len(parameters.Content); i += 2 {
			if name := parameters.Content[i].Value; !v.used[name] {
				v.report.add("Parameters."+name, "parameter %s is declared but never used", name)
			}
		}
	}
	return v.report.findings
}

// referenceVisitor walks a template and records what each reference names.
type referenceVisitor struct {
	report     *report
	parameters map[string]bool
	resources  map[string]bool
	conditions map[string]bool
	mappings   map[string]bool
	used       map[string]bool
}

// visit walks node. resourcesVisible is false in the Conditions and Rules sections,
// where a Ref may name only parameters.
func (v *referenceVisitor) visit(node *yaml.Node, path string, resourcesVisible bool) {
	if node == nil {
		return
	}
	if name, argument, ok := intrinsic(node); ok {
		v.visitIntrinsic(name, argument, path, resourcesVisible)
		return
	}
	switch node.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			v.visit(node.Content[i+1], join(path, node.Content[i].Value), resourcesVisible)
		}
	case yaml.SequenceNode:
		for i, child := range node.Content {
			v.visit(child, fmt.Sprintf("%s[%d]", path, i), resourcesVisible)
		}
	}
}

func (v *referenceVisitor) visitIntrinsic(name string, argument *yaml.Node, path string, resourcesVisible bool) {
	path = join(path, name)
	switch name {
	case "Ref":
		target, _ := literalString(argument)
		v.checkName(target, path, resourcesVisible)
	case "Fn::GetAtt":
		resource, _, ok := parseGetAtt(argument)
		if !ok || !v.resources[resource] {
			v.report.add(path, "Fn::GetAtt names %s, which is not a resource", expression(argument))
		}
	case "Fn::Sub":
		format, locals, ok := parseSub(argument)
		if !ok {
			v.report.add(path, "Fn::Sub takes a string or a [string, variables] list")
			return
		}
		for _, variable := range subVariables(format) {
			if _, local := locals[variable]; local {
				continue
			}
			if resource, _, dotted := strings.Cut(variable, "."); dotted {
				if !v.resources[resource] {
					v.report.add(path, "${%s} names %s, which is not a resource", variable, resource)
				}
				continue
			}
			v.checkName(variable, path, resourcesVisible)
		}
		for local, value := range locals {
			v.visit(value, join(path, local), resourcesVisible)
		}
	case "Fn::If":
		if argument.Kind != yaml.SequenceNode || len(argument.Content) != 3 {
			v.report.add(path, "Fn::If takes [condition, value if true, value if false]")
			return
		}
		v.checkCondition(argument.Content[0], path+"[0]")
		v.visit(argument.Content[1], path+"[1]", resourcesVisible)
		v.visit(argument.Content[2], path+"[2]", resourcesVisible)
	case "Condition":
		v.checkCondition(argument, path)
	case "Fn::FindInMap":
		if argument.Kind == yaml.SequenceNode && len(argument.Content) > 0 {
			if mapping, ok := literalString(argument.Content[0]); ok && !v.mappings[mapping] {
				v.report.add(path, "Fn::FindInMap names %q, which is not a mapping", mapping)
			}
		}
		v.visit(argument, path, resourcesVisible)
	default:
		v.visit(argument, path, resourcesVisible)
	}
}

// checkName reports a Ref target or Fn::Sub variable that is not declared.
func (v *referenceVisitor) checkName(target, path string, resourcesVisible bool) {
	switch {
	case pseudoParameters[target]:
	case v.parameters[target]:
		v.used[target] = true
	case v.resources[target] && resourcesVisible:
	case v.resources[target]:
		v.report.add(path, "%s is a resource, but only parameters may be referenced here", target)
	default:
		v.report.add(path, "%q is not a declared parameter or resource", target)
	}
}

// checkCondition reports a condition name that is not declared in Conditions.
func (v *referenceVisitor) checkCondition(node *yaml.Node, path string) {
	if node == nil {
		return
	}
	if name, ok := literalString(node); !ok || !v.conditions[name] {
		v.report.add(path, "condition %s is not declared in Conditions", expression(node))
	}
}

func sectionKeys(section *yaml.Node) map[string]bool {
	keys := map[string]bool{}
	if section == nil {
		return keys
	}
	for i := 0; i+1 < len(section.Content); i += 2 {
		keys[section.Content[i].Value] = true
	}
	return keys
}

var (
	// accountIDPattern matches a run of exactly 12 digits, the form of an AWS account id.
	accountIDPattern = regexp.MustCompile(`(^|[^0-9])[0-9]{12}([^0-9]|$)`)
	// literalPartitionPattern matches an ARN that spells out its partition instead of
	// using ${AWS::Partition}.
	literalPartitionPattern = regexp.MustCompile(`arn:aws(-[a-z]+)*:`)
	// regionPattern matches Region names such as eu-west-1 or us-gov-east-1.
	regionPattern = regexp.MustCompile(`\b(af|ap|ca|cn|eu|il|me|mx|sa|us)(-gov|-iso[a-z]?)?-(central|east|north|northeast|northwest|south|southeast|southwest|west)-[0-9]\b`)
)

// proseKeys hold free text or patterns, where an example account id or Region is not
// a deployed value.
var proseKeys = map[string]bool{
	"AllowedPattern":           true,
	"AssertDescription":        true,
	"Comment":                  true,
	"ConstraintDescription":    true,
	"DBSubnetGroupDescription": true,
	"Description":              true,
	"GroupDescription":         true,
}

// CheckNoHardCodedAccountValues reports values that contain an account id, an ARN with
// a literal partition, or a Region name: each belongs in a parameter or a pseudo
// parameter (AWS::AccountId, AWS::Partition, AWS::Region), so one template deploys to
// any account and Region.
func CheckNoHardCodedAccountValues(t *Template) []Finding {
	r := newReport(t)
	var visit func(node *yaml.Node, path string)
	visit = func(node *yaml.Node, path string) {
		switch node.Kind {
		case yaml.ScalarNode:
			switch {
			case accountIDPattern.MatchString(node.Value):
				r.add(path, "value %q contains an account id; use a parameter or AWS::AccountId", node.Value)
			case literalPartitionPattern.MatchString(node.Value):
				r.add(path, "value %q spells out the ARN partition; use ${AWS::Partition}", node.Value)
			case regionPattern.MatchString(node.Value):
				r.add(path, "value %q names a Region; use AWS::Region or a parameter", node.Value)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(node.Content); i += 2 {
				if !proseKeys[node.Content[i].Value] {
					visit(node.Content[i+1], join(path, node.Content[i].Value))
				}
			}
		case yaml.SequenceNode:
			for i, child := range node.Content {
				visit(child, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	visit(t.Root, "")
	return r.findings
}
