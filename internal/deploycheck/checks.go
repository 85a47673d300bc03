package deploycheck

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Logical ids and parameter names that the checks look for. Renaming one in a
// template without changing it here makes the matching check report it missing.
const (
	// TaskRoleID is the processor task's IAM role in processor.yaml.
	TaskRoleID = "TaskRole"
	// TaskSecurityGroupID is the processor tasks' security group in processor.yaml.
	TaskSecurityGroupID = "TaskSecurityGroup"
	// PaymentsKeyID is the KMS key of pattern B in processor.yaml.
	PaymentsKeyID = "PaymentsKey"
	// LexRoleID is the Lex fulfillment Lambda's role in forwarder.yaml.
	LexRoleID = "LexFulfillmentRole"
	// KeyAdminParameter is the parameter that names the key-admin role.
	KeyAdminParameter = "KeyAdminRoleArn"
	// ConnectAccountParameter is the parameter that names the Connect account.
	ConnectAccountParameter = "ConnectAccountId"
	// PurposeConditionKey is the encryption-context key that every use of the
	// payments key must be conditioned on.
	PurposeConditionKey = "kms:EncryptionContext:purpose"
	// RequiredStopTimeoutSeconds is the container stop timeout: the processor drains
	// for at most 25 s after SIGTERM, and ECS sends SIGKILL after this many seconds.
	RequiredStopTimeoutSeconds = 30
	// MinimumLogRetentionDays is one year, the audit-log retention of PCI DSS 10.5.1.
	MinimumLogRetentionDays = 365
)

// Check is one named invariant.
type Check struct {
	// Name is the invariant in a few words.
	Name string
	// Run returns the findings of the template; none means the invariant holds.
	Run func(*Template) []Finding
}

// Checks lists the invariants that apply to both templates. Each passes on a template
// that lacks the resources it inspects. The key-policy and role checks are apart
// because each applies to one template only.
var Checks = []Check{
	{"containers run as non-root", CheckContainersRunAsNonRoot},
	{"containers have a read-only root filesystem", CheckContainersReadOnlyRoot},
	{"containers are not privileged", CheckContainersNotPrivileged},
	{"containers stop within 30 s", CheckContainersStopTimeout},
	{"essential containers have the health check", CheckContainersHealthCheck},
	{"logs kept a year and encrypted", CheckLogGroups},
	{"no wildcard principals", CheckNoWildcardPrincipals},
	{"no open ingress", CheckNoOpenIngress},
	{"database encrypted and private", CheckDatabase},
	{"no public exposure", CheckNoPublicExposure},
	{"references resolve", CheckReferences},
	{"no hard-coded account values", CheckNoHardCodedAccountValues},
}

// RunAll runs every check in Checks on the template.
func RunAll(t *Template) []Finding {
	var all []Finding
	for _, check := range Checks {
		all = append(all, check.Run(t)...)
	}
	return all
}

// report collects the findings of one check.
type report struct {
	template *Template
	findings []Finding
}

func newReport(t *Template) *report {
	return &report{template: t}
}

func (r *report) add(path, format string, args ...any) {
	r.findings = append(r.findings, Finding{Template: r.template.Name, Path: path, Message: fmt.Sprintf(format, args...)})
}

// parameterAdmits reports whether a value of parameter name could be the given value:
// its default is that value, or no AllowedValues or AllowedPattern rules it out.
// Parameters of the AWS-specific types (AWS::EC2::SecurityGroup::Id, ...) take only
// ids, never a wildcard or a CIDR. When the result is true, the reason explains it.
func parameterAdmits(t *Template, name, value string) (bool, string) {
	declaration := t.Parameter(name)
	if declaration == nil {
		return false, ""
	}
	if typ, _ := literalString(mappingValue(declaration, "Type")); strings.HasPrefix(typ, "AWS::") || strings.HasPrefix(typ, "List<AWS::") {
		return false, ""
	}

	for _, item := range scalarsWithin(mappingValue(declaration, "Default")) {
		if slices.Contains(splitList(item.Value), value) {
			return true, fmt.Sprintf("its Default is %q", item.Value)
		}
	}
	if allowed := mappingValue(declaration, "AllowedValues"); allowed != nil {
		for _, item := range sequenceItems(allowed) {
			if item.Value == value {
				return true, fmt.Sprintf("its AllowedValues contain %q", value)
			}
		}
		return false, ""
	}

	pattern, ok := literalString(mappingValue(declaration, "AllowedPattern"))
	if !ok {
		return true, "it has no AllowedValues or AllowedPattern"
	}
	// CloudFormation matches AllowedPattern against the whole value.
	compiled, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		return true, fmt.Sprintf("its AllowedPattern cannot be checked (%v)", err)
	}
	if compiled.MatchString(value) {
		return true, fmt.Sprintf("its AllowedPattern %q accepts it", pattern)
	}
	return false, ""
}

// splitList splits a CommaDelimitedList default into its items.
func splitList(value string) []string {
	items := strings.Split(value, ",")
	for i := range items {
		items[i] = strings.TrimSpace(items[i])
	}
	return items
}

// conditionalItems returns the items of a list, replacing each !If item by its two
// branches and dropping AWS::NoValue, so a check inspects every value a list can take.
func conditionalItems(list *yaml.Node) []*yaml.Node {
	var items []*yaml.Node
	for _, item := range sequenceItems(list) {
		items = append(items, conditionalBranches(item)...)
	}
	return items
}

// conditionalBranches returns the values that node can take: both branches of an
// !If (recursively), nothing for AWS::NoValue, and node itself otherwise.
func conditionalBranches(node *yaml.Node) []*yaml.Node {
	if target, ok := refTarget(node); ok && target == "AWS::NoValue" {
		return nil
	}
	name, argument, ok := intrinsic(node)
	if !ok || name != "Fn::If" || argument.Kind != yaml.SequenceNode || len(argument.Content) != 3 {
		return []*yaml.Node{node}
	}
	return append(conditionalBranches(argument.Content[1]), conditionalBranches(argument.Content[2])...)
}
