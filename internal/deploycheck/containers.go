package deploycheck

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// healthCheckCommand is the ECS health check of the processor: ECS runs it inside the
// container, and the image has no shell, so the binary probes itself.
var healthCheckCommand = []string{"CMD", "/processor", "healthcheck"}

// container is one entry of a task definition's ContainerDefinitions.
type container struct {
	resource Resource
	index    int
	node     *yaml.Node
}

func (c container) path(property string) string {
	rest := fmt.Sprintf("ContainerDefinitions[%d]", c.index)
	if property != "" {
		rest += "." + property
	}
	return c.resource.path(rest)
}

func (c container) name() string {
	if name, ok := literalString(mappingValue(c.node, "Name")); ok {
		return name
	}
	return fmt.Sprintf("#%d", c.index)
}

func (c container) property(name string) *yaml.Node {
	return mappingValue(c.node, name)
}

// containers returns the container definitions of every ECS task definition.
func containers(t *Template) []container {
	var all []container
	for _, resource := range t.ResourcesOfType("AWS::ECS::TaskDefinition") {
		for i, node := range sequenceItems(mappingValue(resource.Properties, "ContainerDefinitions")) {
			all = append(all, container{resource: resource, index: i, node: node})
		}
	}
	return all
}

// CheckContainersRunAsNonRoot reports containers without an explicit User, or whose
// user or group is root. Without User the image decides, which the template cannot show.
func CheckContainersRunAsNonRoot(t *Template) []Finding {
	r := newReport(t)
	for _, c := range containers(t) {
		user, ok := literalString(c.property("User"))
		if !ok || user == "" {
			r.add(c.path("User"), "container %s sets no literal User; set a non-root uid:gid such as 65532:65532", c.name())
			continue
		}
		name, group, _ := strings.Cut(user, ":")
		if name == "0" || name == "root" || group == "0" || group == "root" {
			r.add(c.path("User"), "container %s runs as %q, which is root; use a non-root uid:gid", c.name(), user)
		}
	}
	return r.findings
}

// CheckContainersReadOnlyRoot reports containers whose root filesystem is writable.
func CheckContainersReadOnlyRoot(t *Template) []Finding {
	r := newReport(t)
	for _, c := range containers(t) {
		if readOnly, ok := literalBool(c.property("ReadonlyRootFilesystem")); !ok || !readOnly {
			r.add(c.path("ReadonlyRootFilesystem"), "container %s must set ReadonlyRootFilesystem: true", c.name())
		}
	}
	return r.findings
}

// CheckContainersNotPrivileged reports privileged containers, added Linux
// capabilities, and containers that do not drop ALL capabilities.
func CheckContainersNotPrivileged(t *Template) []Finding {
	r := newReport(t)
	for _, c := range containers(t) {
		if node := c.property("Privileged"); node != nil {
			if privileged, ok := literalBool(node); !ok || privileged {
				r.add(c.path("Privileged"), "container %s must not be privileged; leave Privileged unset or false", c.name())
			}
		}
		capabilities := mappingValue(c.property("LinuxParameters"), "Capabilities")
		if added := mappingValue(capabilities, "Add"); added != nil && len(sequenceItems(added)) > 0 {
			r.add(c.path("LinuxParameters.Capabilities.Add"), "container %s adds Linux capabilities; it needs none", c.name())
		}
		dropped := false
		for _, item := range sequenceItems(mappingValue(capabilities, "Drop")) {
			if value, ok := literalString(item); ok && value == "ALL" {
				dropped = true
			}
		}
		if !dropped {
			r.add(c.path("LinuxParameters.Capabilities.Drop"), "container %s must drop ALL Linux capabilities", c.name())
		}
	}
	return r.findings
}

// CheckContainersStopTimeout reports containers whose StopTimeout is not 30 s.
func CheckContainersStopTimeout(t *Template) []Finding {
	r := newReport(t)
	for _, c := range containers(t) {
		seconds, ok := literalInt(c.property("StopTimeout"))
		if !ok || seconds != RequiredStopTimeoutSeconds {
			r.add(c.path("StopTimeout"), "container %s must set StopTimeout: %d (seconds), found %s",
				c.name(), RequiredStopTimeoutSeconds, describe(c.property("StopTimeout")))
		}
	}
	return r.findings
}

// CheckContainersHealthCheck reports essential containers without the health check
// command ["CMD", "/processor", "healthcheck"].
func CheckContainersHealthCheck(t *Template) []Finding {
	r := newReport(t)
	for _, c := range containers(t) {
		if essential, ok := literalBool(c.property("Essential")); ok && !essential {
			continue
		}
		var command []string
		for _, item := range sequenceItems(mappingValue(c.property("HealthCheck"), "Command")) {
			value, _ := literalString(item)
			command = append(command, value)
		}
		if !slices.Equal(command, healthCheckCommand) {
			r.add(c.path("HealthCheck.Command"), "essential container %s must run the health check %q, found %q",
				c.name(), healthCheckCommand, command)
		}
	}
	return r.findings
}

// describe renders a node for a message, or "nothing" when it is absent.
func describe(node *yaml.Node) string {
	if node == nil {
		return "nothing"
	}
	return expression(node)
}
