package deploycheck

import (
	"testing"
)

// Paths into processor.yaml that several tests edit.
const (
	processorContainer = "Resources.TaskDefinition.Properties.ContainerDefinitions[1]"
	tlsInitContainer   = "Resources.TaskDefinition.Properties.ContainerDefinitions[0]"
	keyStatements      = "Resources.PaymentsKey.Properties.KeyPolicy.Statement"
	adminStatement     = keyStatements + "[0]"
	taskStatement      = keyStatements + "[1]"
	lexStatement       = keyStatements + "[2]"
	taskIngress        = "Resources.TaskSecurityGroup.Properties.SecurityGroupIngress"
	lexRolePolicy      = "Resources.LexFulfillmentRole.Properties.Policies[0].PolicyDocument.Statement[0]"
)

func TestTemplatesParse(t *testing.T) {
	for _, name := range []string{processor, forwarder} {
		t.Run(name, func(t *testing.T) {
			tmpl := loadTemplate(t, name)
			if len(tmpl.Resources()) == 0 {
				t.Fatal("template declares no resources")
			}
			for _, resource := range tmpl.Resources() {
				if resource.Type == "" {
					t.Errorf("resource %s has no literal Type", resource.ID)
				}
			}
		})
	}
}

func TestParseRejectsNonTemplates(t *testing.T) {
	cases := []struct {
		name     string
		document string
	}{
		{"list document", "- a\n- b\n"},
		{"no resources", "Parameters: {}\n"},
		{"resources not a mapping", "Resources: [a]\n"},
		{"invalid yaml", "Resources: {a: [\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse("test.yaml", []byte(tc.document)); err == nil {
				t.Errorf("Parse(%q) returned no error", tc.document)
			}
		})
	}
}

func TestIntrinsicForms(t *testing.T) {
	cases := []struct {
		name     string
		snippet  string
		function string
	}{
		{"short Ref", "!Ref Bucket", "Ref"},
		{"long Ref", "{Ref: Bucket}", "Ref"},
		{"short GetAtt", "!GetAtt Role.Arn", "Fn::GetAtt"},
		{"long GetAtt list", "{Fn::GetAtt: [Role, Arn]}", "Fn::GetAtt"},
		{"short Sub", "!Sub 'arn:${AWS::Partition}:s3:::x'", "Fn::Sub"},
		{"short If", "!If [Cond, a, b]", "Fn::If"},
		{"short Condition", "!Condition Cond", "Condition"},
		{"plain string", "Bucket", ""},
		{"core tag", "!!str 12", ""},
		{"IAM condition block", "{Condition: {StringEquals: {a: b}}}", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			function, _, ok := intrinsic(parseSnippet(t, tc.snippet))
			if tc.function == "" {
				if ok {
					t.Errorf("intrinsic(%q) = %q, want no function", tc.snippet, function)
				}
				return
			}
			if !ok || function != tc.function {
				t.Errorf("intrinsic(%q) = %q, %v; want %q", tc.snippet, function, ok, tc.function)
			}
		})
	}
}

func TestAllChecksPassOnDeployedTemplates(t *testing.T) {
	for _, name := range []string{processor, forwarder} {
		t.Run(name, func(t *testing.T) {
			for _, finding := range RunAll(loadTemplate(t, name)) {
				t.Errorf("unexpected finding: %s", finding)
			}
		})
	}
}

func TestContainersRunAsNonRoot(t *testing.T) {
	testInvariant(t, CheckContainersRunAsNonRoot, []string{processor}, []mutation{
		{"user root", processor, set(processorContainer+".User", "root"), "which is root"},
		{"uid zero", processor, set(processorContainer+".User", "'0'"), "which is root"},
		{"group zero", processor, set(processorContainer+".User", "'65532:0'"), "which is root"},
		{"user unset", processor, remove(processorContainer + ".User"), "sets no literal User"},
		{"init container root", processor, set(tlsInitContainer+".User", "'0:0'"), "which is root"},
	})
}

func TestContainersReadOnlyRoot(t *testing.T) {
	testInvariant(t, CheckContainersReadOnlyRoot, []string{processor}, []mutation{
		{"writable", processor, set(processorContainer+".ReadonlyRootFilesystem", "false"), "ReadonlyRootFilesystem: true"},
		{"unset", processor, remove(processorContainer + ".ReadonlyRootFilesystem"), "ReadonlyRootFilesystem: true"},
		{"init container writable", processor, set(tlsInitContainer+".ReadonlyRootFilesystem", "false"), "ReadonlyRootFilesystem: true"},
	})
}

func TestContainersNotPrivileged(t *testing.T) {
	testInvariant(t, CheckContainersNotPrivileged, []string{processor}, []mutation{
		{"privileged", processor, set(processorContainer+".Privileged", "true"), "must not be privileged"},
		{"added capability", processor, set(processorContainer+".LinuxParameters.Capabilities.Add", "[SYS_PTRACE]"), "adds Linux capabilities"},
		{"capabilities kept", processor, remove(processorContainer + ".LinuxParameters.Capabilities.Drop"), "must drop ALL"},
	})
}

func TestContainersStopTimeout(t *testing.T) {
	testInvariant(t, CheckContainersStopTimeout, []string{processor}, []mutation{
		{"two minutes", processor, set(processorContainer+".StopTimeout", "120"), "StopTimeout: 30"},
		{"unset", processor, remove(processorContainer + ".StopTimeout"), "StopTimeout: 30"},
	})
}

func TestContainersHealthCheck(t *testing.T) {
	testInvariant(t, CheckContainersHealthCheck, []string{processor}, []mutation{
		{"shell command", processor, set(processorContainer+".HealthCheck.Command", "[CMD-SHELL, 'curl -f http://localhost:9090/healthz']"), "must run the health check"},
		{"unset", processor, remove(processorContainer + ".HealthCheck"), "must run the health check"},
	})
}

func TestLogGroups(t *testing.T) {
	testInvariant(t, CheckLogGroups, []string{processor, forwarder}, []mutation{
		{"literal retention 30", processor, set("Resources.LogGroup.Properties.RetentionInDays", "30"), "keeps logs 30 days"},
		{"parameter allows a week", processor, set("Parameters.LogRetentionDays.AllowedValues", "[7, 365]"), "keeps logs 7 days"},
		{"parameter unbounded", processor, remove("Parameters.LogRetentionDays.AllowedValues"), "has no AllowedValues or MinValue"},
		{"retention unset", processor, remove("Resources.LogGroup.Properties.RetentionInDays"), "is not set"},
		{"unencrypted", processor, remove("Resources.LogGroup.Properties.KmsKeyId"), "not encrypted with a KMS key"},
		{"container logs elsewhere", processor, set(processorContainer+".LogConfiguration.Options.awslogs-group", "/ecs/other"), "must log to a log group declared"},
		{"container without awslogs", processor, remove(processorContainer + ".LogConfiguration"), "awslogs driver"},
		{"function default log group", forwarder, remove("Resources.Forwarder.Properties.LoggingConfig"), "function must log to a log group"},
		{"forwarder short retention", forwarder, set("Resources.LexEncryptLogGroup.Properties.RetentionInDays", "90"), "keeps logs 90 days"},
		{"forwarder unencrypted", forwarder, remove("Resources.ForwarderLogGroup.Properties.KmsKeyId"), "not encrypted with a KMS key"},
	})
}

func TestPaymentsKeyPolicy(t *testing.T) {
	testInvariant(t, CheckPaymentsKeyPolicy, []string{processor}, []mutation{
		{"task role encrypts", processor, set(taskStatement+".Action", "[kms:Decrypt, kms:Encrypt]"), "the task role may only decrypt"},
		{"task role all actions", processor, set(taskStatement+".Action", "'kms:*'"), "the task role may only decrypt"},
		{"task role re-encrypts", processor, set(taskStatement+".Action", "[kms:Decrypt, 'kms:ReEncrypt*']"), "the task role may only decrypt"},
		{"task decrypt without purpose", processor, remove(taskStatement + ".Condition"), "the task role's decrypt needs"},
		{"task purpose not exact", processor, set(taskStatement+".Condition", "{StringLike: {'kms:EncryptionContext:purpose': '*'}}"), "the task role's decrypt needs"},
		{"lex role decrypts", processor, appendTo(lexStatement+".Action", "kms:Decrypt"), "the Lex role may only encrypt"},
		{"lex role creates grants", processor, appendTo(lexStatement+".Action", "kms:CreateGrant"), "the Lex role may only encrypt"},
		{"lex encrypt without purpose", processor, remove(lexStatement + ".Condition.StringEquals"), "the Lex role's encrypt needs"},
		{"lex whole account", processor, remove(lexStatement + ".Condition.ArnEquals"), "aws:PrincipalArn"},
		{"admin decrypts", processor, appendTo(adminStatement+".Action", "kms:Decrypt"), "must not use the key"},
		{"admin creates grants by wildcard", processor, appendTo(adminStatement+".Action", "'kms:Create*'"), "must not use the key"},
		{"account root delegated", processor, appendTo(keyStatements, `
Effect: Allow
Principal: {AWS: !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
Action: "kms:*"
Resource: "*"`), "unexpected principal"},
		{"task role statement removed", processor, remove(taskStatement), "no statement lets the task role"},
		{"lex statement removed", processor, remove(lexStatement), "no statement lets the Lex role"},
		{"key renamed", processor, remove("Resources.PaymentsKey"), "no AWS::KMS::Key named"},
	})
}

func TestTaskRoleDecryptOnly(t *testing.T) {
	policy := "Resources.TaskRoleDecryptPolicy.Properties.PolicyDocument.Statement[0]"
	testInvariant(t, CheckTaskRoleDecryptOnly, []string{processor}, []mutation{
		{"encrypt added", processor, set(policy+".Action", "[kms:Decrypt, kms:Encrypt]"), "may only use kms:Decrypt"},
		{"all actions", processor, set(policy+".Action", "'*'"), "may only use kms:Decrypt"},
		{"purpose condition removed", processor, remove(policy + ".Condition"), "without a StringEquals condition"},
		{"managed policy", processor, set("Resources.TaskRole.Properties.ManagedPolicyArns", "[!Sub 'arn:${AWS::Partition}:iam::aws:policy/PowerUserAccess']"), "must not have managed policies"},
		{"inline policy on the role", processor, set("Resources.TaskRole.Properties.Policies", `
- PolicyName: extra
  PolicyDocument:
    Statement:
      - {Effect: Allow, Action: "kms:GenerateDataKey*", Resource: "*"}`), "may only use kms:Decrypt"},
		{"role renamed", processor, remove("Resources.TaskRole"), "no AWS::IAM::Role named"},
	})
}

func TestLexRoleEncryptOnly(t *testing.T) {
	testInvariant(t, CheckLexRoleEncryptOnly, []string{forwarder}, []mutation{
		{"decrypt added", forwarder, appendTo(lexRolePolicy+".Action", "kms:Decrypt"), "may only use kms:Encrypt, kms:GenerateDataKey"},
		{"re-encrypt by wildcard", forwarder, appendTo(lexRolePolicy+".Action", "'kms:ReEncrypt*'"), "may only use"},
		{"purpose condition removed", forwarder, remove(lexRolePolicy + ".Condition"), "without a StringEquals condition"},
		{"managed policy", forwarder, set("Resources.LexFulfillmentRole.Properties.ManagedPolicyArns", "[!Sub 'arn:${AWS::Partition}:iam::aws:policy/AWSKeyManagementServicePowerUser']"), "must not have managed policies"},
		{"role renamed", forwarder, remove("Resources.LexFulfillmentRole"), "no AWS::IAM::Role named"},
	})
}

func TestNoWildcardPrincipals(t *testing.T) {
	testInvariant(t, CheckNoWildcardPrincipals, []string{processor, forwarder}, []mutation{
		{"key policy star", processor, set(taskStatement+".Principal", "'*'"), "wildcard principal"},
		{"key policy AWS star", processor, set(taskStatement+".Principal", "{AWS: '*'}"), "wildcard principal"},
		{"key policy account wildcard", processor, set(lexStatement+".Principal.AWS", "!Sub 'arn:${AWS::Partition}:iam::*:root'"), "wildcard principal"},
		{"trust policy star", processor, set("Resources.ExecutionRole.Properties.AssumeRolePolicyDocument.Statement[0].Principal", "{AWS: '*'}"), "wildcard principal"},
		{"long-form sub star", processor, set(taskStatement+".Principal", "{AWS: {'Fn::Sub': '*'}}"), "wildcard principal"},
		{"not principal", processor, set(taskStatement+".NotPrincipal", "{AWS: !Ref KeyAdminRoleArn}"), "NotPrincipal"},
		{"endpoint principals default star", processor, set("Parameters.EndpointAllowedPrincipals.Default", "'*'"), "could be \"*\""},
		{"endpoint principals unconstrained", processor, remove("Parameters.EndpointAllowedPrincipals.AllowedPattern"), "has no AllowedValues or AllowedPattern"},
		{"endpoint principals pattern too wide", processor, set("Parameters.EndpointAllowedPrincipals.AllowedPattern", "'.+'"), "accepts it"},
		{"lambda permission star", forwarder, set("Resources.ForwarderConnectPermission.Properties.Principal", "'*'"), "wildcard principal"},
		{"lambda permission without source", forwarder, remove("Resources.ForwarderConnectPermission.Properties.SourceArn"), "needs a SourceArn"},
	})
}

func TestNoOpenIngress(t *testing.T) {
	testInvariant(t, CheckNoOpenIngress, []string{processor, forwarder}, []mutation{
		{"task API from anywhere", processor, appendTo(taskIngress, "{IpProtocol: tcp, FromPort: 8443, ToPort: 8443, CidrIp: 0.0.0.0/0}"), "0.0.0.0/0"},
		{"task API from anywhere IPv6", processor, appendTo(taskIngress, "{IpProtocol: tcp, FromPort: 8443, ToPort: 8443, CidrIpv6: '::/0'}"), "::/0"},
		{"subnet parameter unconstrained", processor, set("Parameters.PrivateSubnetACidr.AllowedPattern", "'.*'"), "could be 0.0.0.0/0"},
		{"subnet parameter default open", processor, set("Parameters.PrivateSubnetBCidr.Default", "0.0.0.0/0"), "could be 0.0.0.0/0"},
		{"separate open rule", processor, set("Resources.OpenDatabase", `
Type: AWS::EC2::SecurityGroupIngress
Properties: {GroupId: !GetAtt DatabaseSecurityGroup.GroupId, IpProtocol: tcp, FromPort: 5432, ToPort: 5432, CidrIp: 0.0.0.0/0}`), "0.0.0.0/0"},
		{"task SSH port", processor, appendTo(taskIngress, "{IpProtocol: tcp, FromPort: 22, ToPort: 22, CidrIp: !Ref PrivateSubnetACidr}"), "may open only TCP 8443 and 9090"},
		{"task port range", processor, set(taskIngress+"[0].ToPort", "9090"), "may open only TCP 8443 and 9090"},
		{"task all protocols", processor, set(taskIngress+"[4].IpProtocol", "'-1'"), "may open only TCP 8443 and 9090"},
		{"forwarder endpoint from anywhere", forwarder, appendTo("Resources.ProcessorEndpointSecurityGroup.Properties.SecurityGroupIngress", "{IpProtocol: tcp, FromPort: 8443, ToPort: 8443, CidrIp: 0.0.0.0/0}"), "0.0.0.0/0"},
	})
}

func TestDatabase(t *testing.T) {
	cluster := "Resources.DatabaseCluster.Properties"
	testInvariant(t, CheckDatabase, []string{processor, forwarder}, []mutation{
		{"unencrypted", processor, set(cluster+".StorageEncrypted", "false"), "StorageEncrypted: true"},
		{"encryption unset", processor, remove(cluster + ".StorageEncrypted"), "StorageEncrypted: true"},
		{"public writer", processor, set("Resources.DatabaseWriter.Properties.PubliclyAccessible", "true"), "PubliclyAccessible: false"},
		{"reader public by default", processor, remove("Resources.DatabaseReader.Properties.PubliclyAccessible"), "PubliclyAccessible: false"},
		{"literal password", processor, set(cluster+".MasterUserPassword", "correct-horse-battery"), "dynamic reference"},
		{"password unmanaged", processor, remove(cluster + ".MasterUserPassword"), "ManageMasterUserPassword"},
		{"ingress from subnet", processor, set("Resources.DatabaseSecurityGroup.Properties.SecurityGroupIngress[0]",
			"{IpProtocol: tcp, FromPort: 5432, ToPort: 5432, CidrIp: !Ref PrivateSubnetACidr}"), "only from the task security group"},
		{"ingress from scraper", processor, set("Resources.ScraperToDatabase", `
Type: AWS::EC2::SecurityGroupIngress
Properties: {GroupId: !Ref DatabaseSecurityGroup, IpProtocol: tcp, FromPort: 5432, ToPort: 5432, SourceSecurityGroupId: !Ref PrometheusSecurityGroupId}`), "only from the task security group"},
		{"group not declared", processor, set(cluster+".VpcSecurityGroupIds", "[!Ref PrometheusSecurityGroupId]"), "not declared in this template"},
	})
}

func TestNoPublicExposure(t *testing.T) {
	network := "Resources.Service.Properties.NetworkConfiguration.AwsvpcConfiguration"
	testInvariant(t, CheckNoPublicExposure, []string{processor, forwarder}, []mutation{
		{"internet-facing NLB", processor, set("Resources.LoadBalancer.Properties.Scheme", "internet-facing"), "Scheme: internal"},
		{"scheme unset", processor, remove("Resources.LoadBalancer.Properties.Scheme"), "Scheme: internal"},
		{"public task IP", processor, set(network+".AssignPublicIp", "ENABLED"), "AssignPublicIp: DISABLED"},
		{"one subnet", processor, set(network+".Subnets", "[!Ref PrivateSubnetAId]"), "two subnets"},
		{"one task allowed", processor, set("Parameters.DesiredCount.MinValue", "1"), "at least two tasks"},
		{"endpoint accepts anyone allowed", processor, set("Resources.EndpointService.Properties.AcceptanceRequired", "false"), "AcceptanceRequired: true"},
	})
}

func TestReferences(t *testing.T) {
	environment := processorContainer + ".Environment"
	testInvariant(t, CheckReferences, []string{processor, forwarder}, []mutation{
		{"ref to nothing", processor, set(processorContainer+".Image", "!Ref ProcessorImageUri"), "\"ProcessorImageUri\" is not a declared"},
		{"getatt to nothing", processor, set("Resources.TaskDefinition.Properties.TaskRoleArn", "!GetAtt ProcessorRole.Arn"), "ProcessorRole.Arn, which is not a resource"},
		{"long-form getatt to nothing", processor, set("Resources.TaskDefinition.Properties.TaskRoleArn", "{Fn::GetAtt: [ProcessorRole, Arn]}"), "which is not a resource"},
		{"sub variable to nothing", processor, set("Resources.LogGroup.Properties.LogGroupName", "!Sub /ecs/${Environment}/processor"), "\"Environment\" is not a declared"},
		{"sub attribute to nothing", processor, appendTo(environment, "{Name: X, Value: !Sub '${Database.Endpoint.Address}'}"), "names Database, which is not a resource"},
		{"sub local variable", processor, appendTo(environment, "{Name: X, Value: !Sub ['${Local}', {Local: !Ref Missing}]}"), "\"Missing\" is not a declared"},
		{"depends on nothing", processor, set("Resources.Service.DependsOn", "[Listener, Database]"), "DependsOn names \"Database\""},
		{"if on unknown condition", processor, appendTo(environment, "!If [IsProduction, {Name: X, Value: y}, !Ref AWS::NoValue]"), "condition IsProduction is not declared"},
		{"resource condition unknown", processor, set("Resources.DatabaseReader.Condition", "HasReader"), "condition HasReader is not declared"},
		{"resource in a condition", processor, set("Conditions.UsesCluster", "!Equals [!Ref Cluster, '']"), "only parameters may be referenced here"},
		{"unused parameter", processor, set("Parameters.Unused", "{Type: String}"), "parameter Unused is declared but never used"},
		{"forwarder ref to nothing", forwarder, set("Resources.Forwarder.Properties.Role", "!GetAtt LambdaRole.Arn"), "LambdaRole.Arn, which is not a resource"},
		{"output ref to nothing", forwarder, set("Outputs.ProcessorEndpointId.Value", "!Ref Endpoint"), "\"Endpoint\" is not a declared"},
	})
}

func TestNoHardCodedAccountValues(t *testing.T) {
	policies := "Resources.ExecutionRole.Properties.ManagedPolicyArns[0]"
	testInvariant(t, CheckNoHardCodedAccountValues, []string{processor, forwarder}, []mutation{
		{"account id in ARN", processor, set(policies, "!Sub 'arn:${AWS::Partition}:iam::123456789012:policy/extra'"), "contains an account id"},
		{"literal partition", processor, set(policies, "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"), "spells out the ARN partition"},
		{"literal Region", processor, set(processorContainer+".LogConfiguration.Options.awslogs-region", "eu-west-1"), "names a Region"},
		{"GovCloud Region", forwarder, set("Resources.SecretsManagerEndpoint.Properties.ServiceName", "com.amazonaws.us-gov-west-1.secretsmanager"), "names a Region"},
		{"account id default", forwarder, set("Parameters.KeyAdminRoleArn.Default", "!Sub 'arn:${AWS::Partition}:iam::210987654321:role/admin'"), "contains an account id"},
	})
}
