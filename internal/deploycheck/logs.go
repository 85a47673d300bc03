package deploycheck

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// CheckLogGroups reports log groups kept less than a year or not encrypted with a KMS
// key. It also reports containers and Lambda functions that do not log to a log group
// declared in the template. A group that ECS or Lambda creates on first use never
// expires and is not encrypted with a key of ours.
func CheckLogGroups(t *Template) []Finding {
	r := newReport(t)
	logGroups := map[string]bool{}
	for _, resource := range t.ResourcesOfType("AWS::Logs::LogGroup") {
		logGroups[resource.ID] = true
		retention := mappingValue(resource.Properties, "RetentionInDays")
		if days, problem := minimumValue(t, retention); problem != "" {
			r.add(resource.path("RetentionInDays"), "log group retention %s; it must be at least %d days", problem, MinimumLogRetentionDays)
		} else if days < MinimumLogRetentionDays {
			r.add(resource.path("RetentionInDays"), "log group keeps logs %d days; it must be at least %d", days, MinimumLogRetentionDays)
		}
		if key := mappingValue(resource.Properties, "KmsKeyId"); key == nil || key.Value == "" && len(key.Content) == 0 {
			r.add(resource.path("KmsKeyId"), "log group is not encrypted with a KMS key; set KmsKeyId")
		}
	}

	for _, c := range containers(t) {
		logging := c.property("LogConfiguration")
		if driver, _ := literalString(mappingValue(logging, "LogDriver")); driver != "awslogs" {
			r.add(c.path("LogConfiguration.LogDriver"), "container %s must log with the awslogs driver", c.name())
			continue
		}
		group := mappingValue(mappingValue(logging, "Options"), "awslogs-group")
		if target, ok := refTarget(group); !ok || !logGroups[target] {
			r.add(c.path("LogConfiguration.Options.awslogs-group"),
				"container %s must log to a log group declared in this template (!Ref to it), found %s", c.name(), describe(group))
		}
	}

	for _, function := range t.ResourcesOfType("AWS::Lambda::Function") {
		group := mappingValue(mappingValue(function.Properties, "LoggingConfig"), "LogGroup")
		if target, ok := refTarget(group); !ok || !logGroups[target] {
			r.add(function.path("LoggingConfig.LogGroup"),
				"function must log to a log group declared in this template (!Ref to it), found %s", describe(group))
		}
	}
	return r.findings
}

// minimumValue returns the smallest value a number can take: a literal, or a !Ref to a
// parameter bounded by AllowedValues or MinValue. A non-empty problem explains why no
// bound is known.
func minimumValue(t *Template, node *yaml.Node) (int, string) {
	if node == nil {
		return 0, "is not set"
	}
	if number, ok := literalInt(node); ok {
		return number, ""
	}
	name, ok := refTarget(node)
	if !ok {
		return 0, fmt.Sprintf("is %s, not a number or a parameter", expression(node))
	}
	declaration := t.Parameter(name)
	if declaration == nil {
		return 0, fmt.Sprintf("refers to %s, which is not a parameter", name)
	}
	if allowed := mappingValue(declaration, "AllowedValues"); allowed != nil {
		minimum, found := 0, false
		for _, item := range sequenceItems(allowed) {
			number, ok := literalInt(item)
			if !ok {
				return 0, fmt.Sprintf("comes from parameter %s, whose AllowedValues contain %q", name, item.Value)
			}
			if !found || number < minimum {
				minimum, found = number, true
			}
		}
		if found {
			return minimum, ""
		}
	}
	if minimum, ok := literalInt(mappingValue(declaration, "MinValue")); ok {
		return minimum, ""
	}
	return 0, fmt.Sprintf("comes from parameter %s, which has no AllowedValues or MinValue", name)
}
