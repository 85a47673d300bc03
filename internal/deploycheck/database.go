package deploycheck

import (
	"strings"
)

// dynamicSecretPrefix starts a CloudFormation dynamic reference to Secrets Manager,
// which resolves at deploy time and never stores the value in the template.
const dynamicSecretPrefix = "{{resolve:secretsmanager:"

// CheckDatabase reports RDS clusters without storage encryption or with a password
// that is not taken from Secrets Manager, instances that are or could be publicly
// accessible, and database security groups that admit anything but the task
// security group.
func CheckDatabase(t *Template) []Finding {
	r := newReport(t)
	databaseGroups := map[string]string{}
	for _, cluster := range t.ResourcesOfType("AWS::RDS::DBCluster") {
		if encrypted, ok := literalBool(mappingValue(cluster.Properties, "StorageEncrypted")); !ok || !encrypted {
			r.add(cluster.path("StorageEncrypted"), "database cluster must set StorageEncrypted: true")
		}
		checkMasterPassword(r, cluster)
		for i, group := range sequenceItems(mappingValue(cluster.Properties, "VpcSecurityGroupIds")) {
			id := securityGroupTarget(group)
			if resource, ok := t.Resource(id); !ok || resource.Type != "AWS::EC2::SecurityGroup" {
				r.add(cluster.path("VpcSecurityGroupIds"), "database security group #%d (%s) is not declared in this template, so its ingress cannot be checked", i, expression(group))
				continue
			}
			databaseGroups[id] = cluster.ID
		}
	}
	for _, instance := range t.ResourcesOfType("AWS::RDS::DBInstance") {
		if public, ok := literalBool(mappingValue(instance.Properties, "PubliclyAccessible")); !ok || public {
			r.add(instance.path("PubliclyAccessible"), "database instance must set PubliclyAccessible: false (the default depends on the subnets)")
		}
		if mappingValue(instance.Properties, "DBClusterIdentifier") != nil {
			continue // Aurora instances take the cluster's storage encryption.
		}
		if encrypted, ok := literalBool(mappingValue(instance.Properties, "StorageEncrypted")); !ok || !encrypted {
			r.add(instance.path("StorageEncrypted"), "database instance must set StorageEncrypted: true")
		}
		checkMasterPassword(r, instance)
	}
	for _, rule := range ingressRules(t) {
		if _, ok := databaseGroups[rule.groupID]; !ok {
			continue
		}
		if securityGroupTarget(mappingValue(rule.node, "SourceSecurityGroupId")) != TaskSecurityGroupID {
			r.add(rule.path, "the database may be reached only from the task security group (%s); found a rule from %s",
				TaskSecurityGroupID, ingressSource(rule))
		}
	}
	return r.findings
}

// checkMasterPassword reports a master password that is neither managed by RDS in
// Secrets Manager nor a dynamic reference to a secret.
func checkMasterPassword(r *report, database Resource) {
	password := mappingValue(database.Properties, "MasterUserPassword")
	if password == nil {
		if managed, ok := literalBool(mappingValue(database.Properties, "ManageMasterUserPassword")); !ok || !managed {
			r.add(database.path("ManageMasterUserPassword"), "database needs ManageMasterUserPassword: true or a MasterUserPassword from Secrets Manager")
		}
		return
	}
	text, ok := literalString(password)
	if !ok {
		text, _, _ = subTemplate(password)
	}
	if !strings.HasPrefix(text, dynamicSecretPrefix) {
		r.add(database.path("MasterUserPassword"), "master password must be a %s...}} dynamic reference, not a value in the template", dynamicSecretPrefix)
	}
}

// ingressSource renders the source of an ingress rule for a message.
func ingressSource(rule ingressRule) string {
	for _, field := range []string{"SourceSecurityGroupId", "CidrIp", "CidrIpv6", "SourcePrefixListId"} {
		if value := mappingValue(rule.node, field); value != nil {
			return field + " " + expression(value)
		}
	}
	return "no source"
}
