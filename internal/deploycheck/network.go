package deploycheck

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// openCidrs are the IPv4 and IPv6 ranges that mean "anywhere".
var openCidrs = []string{"0.0.0.0/0", "::/0"}

// taskIngressPorts are the only ports the task security group may open: the mTLS API
// (from the NLB) and the ops listener (NLB health check and Prometheus).
var taskIngressPorts = map[int]bool{8443: true, 9090: true}

// ingressRule is one ingress rule, inline in a security group or a separate
// AWS::EC2::SecurityGroupIngress resource.
type ingressRule struct {
	// groupID is the logical id of the security group the rule belongs to, or ""
	// when the rule names a group that is not declared in the template.
	groupID string
	node    *yaml.Node
	path    string
}

// ingressRules returns every ingress rule of the template.
func ingressRules(t *Template) []ingressRule {
	var rules []ingressRule
	for _, resource := range t.Resources() {
		switch resource.Type {
		case "AWS::EC2::SecurityGroup":
			for i, item := range sequenceItems(mappingValue(resource.Properties, "SecurityGroupIngress")) {
				for _, branch := range conditionalBranches(item) {
					rules = append(rules, ingressRule{
						groupID: resource.ID,
						node:    branch,
						path:    resource.path(fmt.Sprintf("SecurityGroupIngress[%d]", i)),
					})
				}
			}
		case "AWS::EC2::SecurityGroupIngress":
			rules = append(rules, ingressRule{
				groupID: securityGroupTarget(mappingValue(resource.Properties, "GroupId")),
				node:    resource.Properties,
				path:    resource.path(""),
			})
		}
	}
	return rules
}

// securityGroupTarget returns the logical id of the security group that node names by
// !Ref or !GetAtt <id>.GroupId, or "".
func securityGroupTarget(node *yaml.Node) string {
	if target, ok := refTarget(node); ok {
		return target
	}
	if resource, attribute, ok := getAttTarget(node); ok && attribute == "GroupId" {
		return resource
	}
	return ""
}

// CheckNoOpenIngress reports ingress rules, on any security group, whose CidrIp or
// CidrIpv6 is or could be 0.0.0.0/0 or ::/0, and rules of the task security group
// on other ports than 8443 and 9090 or other protocols than TCP.
func CheckNoOpenIngress(t *Template) []Finding {
	r := newReport(t)
	for _, rule := range ingressRules(t) {
		for _, field := range []string{"CidrIp", "CidrIpv6"} {
			value := mappingValue(rule.node, field)
			if value == nil {
				continue
			}
			for _, branch := range conditionalBranches(value) {
				for _, problem := range openRange(t, branch) {
					r.add(join(rule.path, field), "%s; admit the NLB subnets or a security group instead", problem)
				}
			}
		}
		if rule.groupID != TaskSecurityGroupID {
			continue
		}
		protocol, _ := literalString(mappingValue(rule.node, "IpProtocol"))
		from, okFrom := literalInt(mappingValue(rule.node, "FromPort"))
		to, okTo := literalInt(mappingValue(rule.node, "ToPort"))
		if protocol != "tcp" || !okFrom || !okTo || from != to || !taskIngressPorts[from] {
			r.add(rule.path, "the task security group may open only TCP 8443 and 9090, one port per rule; found %s %s-%s",
				describe(mappingValue(rule.node, "IpProtocol")), describe(mappingValue(rule.node, "FromPort")), describe(mappingValue(rule.node, "ToPort")))
		}
	}
	return r.findings
}

// openRange returns a problem when node is, or is a parameter that could be, a range
// that means anywhere.
func openRange(t *Template, node *yaml.Node) []string {
	var problems []string
	if target, ok := refTarget(node); ok {
		for _, cidr := range openCidrs {
			if admits, reason := parameterAdmits(t, target, cidr); admits {
				problems = append(problems, fmt.Sprintf("ingress from parameter %s could be %s: %s", target, cidr, reason))
			}
		}
		return problems
	}
	for _, scalar := range scalarsWithin(node) {
		for _, cidr := range openCidrs {
			if scalar.Value == cidr {
				problems = append(problems, fmt.Sprintf("ingress from %s (anywhere)", cidr))
			}
		}
	}
	return problems
}

// CheckNoPublicExposure reports load balancers that are not internal, ECS services
// that assign public IPs or run in fewer than two subnets or tasks, and endpoint
// services that accept connections without review.
func CheckNoPublicExposure(t *Template) []Finding {
	r := newReport(t)
	for _, balancer := range t.ResourcesOfType("AWS::ElasticLoadBalancingV2::LoadBalancer") {
		if scheme, _ := literalString(mappingValue(balancer.Properties, "Scheme")); scheme != "internal" {
			r.add(balancer.path("Scheme"), "load balancer must set Scheme: internal (the default is internet-facing)")
		}
	}
	for _, service := range t.ResourcesOfType("AWS::ECS::Service") {
		network := mappingValue(mappingValue(service.Properties, "NetworkConfiguration"), "AwsvpcConfiguration")
		if assign, _ := literalString(mappingValue(network, "AssignPublicIp")); assign != "DISABLED" {
			r.add(service.path("NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp"), "service must set AssignPublicIp: DISABLED")
		}
		subnets := map[string]bool{}
		for _, subnet := range sequenceItems(mappingValue(network, "Subnets")) {
			subnets[expression(subnet)] = true
		}
		if len(subnets) < 2 {
			r.add(service.path("NetworkConfiguration.AwsvpcConfiguration.Subnets"), "service must run in two subnets, one per Availability Zone; found %d", len(subnets))
		}
		if count, problem := minimumValue(t, mappingValue(service.Properties, "DesiredCount")); problem != "" || count < 2 {
			r.add(service.path("DesiredCount"), "service must run at least two tasks, one per Availability Zone (%s)", orValue(problem, count))
		}
	}
	for _, endpointService := range t.ResourcesOfType("AWS::EC2::VPCEndpointService") {
		if required, ok := literalBool(mappingValue(endpointService.Properties, "AcceptanceRequired")); !ok || !required {
			r.add(endpointService.path("AcceptanceRequired"), "endpoint service must set AcceptanceRequired: true, so each endpoint connection is reviewed")
		}
	}
	return r.findings
}

func orValue(problem string, value int) string {
	if problem != "" {
		return "desired count " + problem
	}
	return fmt.Sprintf("minimum %d", value)
}
