package deploycheck

import (
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// keyUsageActions are the KMS actions that use or hand out the key material. A
// key administrator gets none of them, and each payments-key user gets only its own.
var keyUsageActions = []string{
	"kms:CreateGrant",
	"kms:Decrypt",
	"kms:Encrypt",
	"kms:GenerateDataKey",
	"kms:GenerateDataKeyPair",
	"kms:GenerateDataKeyPairWithoutPlaintext",
	"kms:GenerateDataKeyWithoutPlaintext",
	"kms:GenerateMac",
	"kms:ReEncryptFrom",
	"kms:ReEncryptTo",
}

var (
	decryptOnly = []string{"kms:Decrypt"}
	encryptOnly = []string{"kms:Encrypt", "kms:GenerateDataKey"}
)

// statement is one policy statement with its finding path.
type statement struct {
	node *yaml.Node
	path string
}

// policyStatements returns the statements of a policy document, with both branches
// of an !If statement.
func policyStatements(document *yaml.Node, path string) []statement {
	var statements []statement
	for i, item := range sequenceItems(mappingValue(document, "Statement")) {
		for _, branch := range conditionalBranches(item) {
			if branch.Kind == yaml.MappingNode {
				statements = append(statements, statement{node: branch, path: fmt.Sprintf("%s.Statement[%d]", path, i)})
			}
		}
	}
	return statements
}

func (s statement) allows() bool {
	effect, _ := literalString(mappingValue(s.node, "Effect"))
	return effect == "Allow"
}

// actions returns the statement's actions; literal is false when one of them is not
// a literal string, so the statement cannot be judged.
func (s statement) actions() (actions []string, literal bool) {
	for _, item := range sequenceItems(mappingValue(s.node, "Action")) {
		value, ok := literalString(item)
		if !ok {
			return nil, false
		}
		actions = append(actions, value)
	}
	return actions, true
}

// principals returns the statement's principals as canonical expressions, each
// prefixed with its kind ("AWS:", "Service:", ...), or "*" for Principal: "*".
func (s statement) principals() []string {
	principal := mappingValue(s.node, "Principal")
	if value, ok := literalString(principal); ok {
		return []string{value}
	}
	var principals []string
	for i := 0; principal != nil && principal.Kind == yaml.MappingNode && i+1 < len(principal.Content); i += 2 {
		kind := principal.Content[i].Value
		for _, item := range conditionalItems(principal.Content[i+1]) {
			principals = append(principals, kind+":"+expression(item))
		}
	}
	return principals
}

// hasCondition reports whether the statement has a condition on key under operator.
func (s statement) hasCondition(operator, key string) bool {
	value := mappingValue(mappingValue(mappingValue(s.node, "Condition"), operator), key)
	return value != nil && (value.Value != "" || len(value.Content) > 0)
}

// matchesAction reports whether an IAM action pattern (with * and ? wildcards, case
// insensitive) matches action.
func matchesAction(pattern, action string) bool {
	expression := "(?i)^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	return regexp.MustCompile(expression).MatchString(action)
}

// grantedUsage returns the key-usage actions that the patterns grant.
func grantedUsage(patterns []string) []string {
	var granted []string
	for _, action := range keyUsageActions {
		for _, pattern := range patterns {
			if matchesAction(pattern, action) {
				granted = append(granted, action)
				break
			}
		}
	}
	return granted
}

// usageBeyond returns the key-usage actions granted by patterns that allowed does
// not contain.
func usageBeyond(patterns, allowed []string) []string {
	var extra []string
	for _, action := range grantedUsage(patterns) {
		permitted := false
		for _, a := range allowed {
			if strings.EqualFold(a, action) {
				permitted = true
			}
		}
		if !permitted {
			extra = append(extra, action)
		}
	}
	return extra
}

// CheckPaymentsKeyPolicy reports a payments-key policy that does not separate the
// duties. The key-admin role may not use the key. The processor task role may only
// decrypt. The Connect account may only encrypt and generate data keys, and only as
// the Lex role. Both uses need the purpose encryption context, and no other principal
// may appear. A template without PaymentsKey gets a finding that the key is missing.
func CheckPaymentsKeyPolicy(t *Template) []Finding {
	r := newReport(t)
	key, ok := t.Resource(PaymentsKeyID)
	if !ok || key.Type != "AWS::KMS::Key" {
		r.add("Resources."+PaymentsKeyID, "no AWS::KMS::Key named %s", PaymentsKeyID)
		return r.findings
	}
	var (
		adminPrincipal   = "AWS:Ref:" + KeyAdminParameter
		taskPrincipal    = "AWS:GetAtt:" + TaskRoleID + ".Arn"
		connectReference = "${" + ConnectAccountParameter + "}"
		taskDecrypts     bool
		lexEncrypts      bool
	)
	for _, s := range policyStatements(mappingValue(key.Properties, "KeyPolicy"), key.path("KeyPolicy")) {
		if !s.allows() {
			continue
		}
		actions, literal := s.actions()
		if !literal {
			r.add(s.path+".Action", "actions must be literal strings so the separation can be checked")
			continue
		}
		principals := s.principals()
		if len(principals) == 0 {
			r.add(s.path+".Principal", "statement has no principal the check can read")
		}
		for _, principal := range principals {
			switch {
			case principal == adminPrincipal:
				if granted := grantedUsage(actions); len(granted) > 0 {
					r.add(s.path+".Action", "the key-admin role must not use the key, but is granted %s", strings.Join(granted, ", "))
				}
			case principal == taskPrincipal:
				taskDecrypts = true
				if extra := usageBeyond(actions, decryptOnly); len(extra) > 0 {
					r.add(s.path+".Action", "the task role may only decrypt, but is granted %s", strings.Join(extra, ", "))
				}
				if !s.hasCondition("StringEquals", PurposeConditionKey) {
					r.add(s.path+".Condition", "the task role's decrypt needs a StringEquals condition on %s", PurposeConditionKey)
				}
			case strings.HasPrefix(principal, "AWS:Sub:") && strings.Contains(principal, connectReference) && strings.HasSuffix(principal, ":root"):
				lexEncrypts = true
				if extra := usageBeyond(actions, encryptOnly); len(extra) > 0 {
					r.add(s.path+".Action", "the Lex role may only encrypt and generate data keys, but is granted %s", strings.Join(extra, ", "))
				}
				if !s.hasCondition("StringEquals", PurposeConditionKey) {
					r.add(s.path+".Condition", "the Lex role's encrypt needs a StringEquals condition on %s", PurposeConditionKey)
				}
				if !s.hasCondition("ArnEquals", "aws:PrincipalArn") {
					r.add(s.path+".Condition", "a statement for the whole Connect account needs an ArnEquals condition on aws:PrincipalArn naming the Lex role")
				}
			default:
				r.add(s.path+".Principal", "unexpected principal %s; only the key-admin role, the task role and the Lex role may appear", principal)
			}
		}
	}
	if !taskDecrypts {
		r.add(key.path("KeyPolicy"), "no statement lets the task role (%s) decrypt", TaskRoleID)
	}
	if !lexEncrypts {
		r.add(key.path("KeyPolicy"), "no statement lets the Lex role in the Connect account encrypt")
	}
	return r.findings
}

// CheckTaskRoleDecryptOnly reports IAM policies that give the processor task role a
// key-usage action other than kms:Decrypt, a decrypt without the purpose condition,
// or managed policies, whose contents the template does not show.
func CheckTaskRoleDecryptOnly(t *Template) []Finding {
	return checkRoleKeyUsage(t, TaskRoleID, decryptOnly)
}

// CheckLexRoleEncryptOnly reports IAM policies that give the Lex fulfillment role a
// key-usage action other than kms:Encrypt and kms:GenerateDataKey, an encrypt without
// the purpose condition, or managed policies.
func CheckLexRoleEncryptOnly(t *Template) []Finding {
	return checkRoleKeyUsage(t, LexRoleID, encryptOnly)
}

func checkRoleKeyUsage(t *Template, roleID string, allowed []string) []Finding {
	r := newReport(t)
	role, ok := t.Resource(roleID)
	if !ok || role.Type != "AWS::IAM::Role" {
		r.add("Resources."+roleID, "no AWS::IAM::Role named %s", roleID)
		return r.findings
	}
	if managed := mappingValue(role.Properties, "ManagedPolicyArns"); managed != nil && len(sequenceItems(managed)) > 0 {
		r.add(role.path("ManagedPolicyArns"), "role %s must not have managed policies; the check cannot see what they allow", roleID)
	}
	for _, document := range rolePolicyDocuments(t, role) {
		for _, s := range policyStatements(document.node, document.path) {
			if !s.allows() {
				continue
			}
			actions, literal := s.actions()
			if !literal {
				r.add(s.path+".Action", "actions must be literal strings so the key usage can be checked")
				continue
			}
			if extra := usageBeyond(actions, allowed); len(extra) > 0 {
				r.add(s.path+".Action", "role %s may only use %s, but is granted %s", roleID, strings.Join(allowed, ", "), strings.Join(extra, ", "))
			}
			if len(grantedUsage(actions)) > 0 && !s.hasCondition("StringEquals", PurposeConditionKey) {
				r.add(s.path+".Condition", "role %s uses a KMS key without a StringEquals condition on %s", roleID, PurposeConditionKey)
			}
		}
	}
	return r.findings
}

// policyDocument is one policy document with its finding path.
type policyDocument struct {
	node *yaml.Node
	path string
}

// rolePolicyDocuments returns the role's inline policies and the policies declared
// as separate resources that attach to it.
func rolePolicyDocuments(t *Template, role Resource) []policyDocument {
	var documents []policyDocument
	for i, policy := range sequenceItems(mappingValue(role.Properties, "Policies")) {
		documents = append(documents, policyDocument{
			node: mappingValue(policy, "PolicyDocument"),
			path: role.path(fmt.Sprintf("Policies[%d].PolicyDocument", i)),
		})
	}
	for _, resource := range t.Resources() {
		var attached bool
		switch resource.Type {
		case "AWS::IAM::RolePolicy":
			target, _ := refTarget(mappingValue(resource.Properties, "RoleName"))
			attached = target == role.ID
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
			for _, item := range sequenceItems(mappingValue(resource.Properties, "Roles")) {
				if target, _ := refTarget(item); target == role.ID {
					attached = true
				}
			}
		}
		if attached {
			documents = append(documents, policyDocument{
				node: mappingValue(resource.Properties, "PolicyDocument"),
				path: resource.path("PolicyDocument"),
			})
		}
	}
	return documents
}

// CheckNoWildcardPrincipals reports any Principal or AllowedPrincipals value that
// is or could be "*", any NotPrincipal, and Lambda permissions for a service
// principal without a SourceArn (any instance of that service could invoke).
func CheckNoWildcardPrincipals(t *Template) []Finding {
	r := newReport(t)
	walkMappings(t.Root, "", func(mapping *yaml.Node, path string) {
		for i := 0; i+1 < len(mapping.Content); i += 2 {
			key, value := mapping.Content[i].Value, mapping.Content[i+1]
			switch key {
			case "NotPrincipal":
				r.add(join(path, key), "NotPrincipal allows everyone not listed; name the principals in Principal")
			case "Principal", "AllowedPrincipals":
				for _, problem := range wildcardsIn(t, value) {
					r.add(join(path, key), "%s", problem)
				}
			}
		}
	})
	for _, permission := range t.ResourcesOfType("AWS::Lambda::Permission") {
		principal, _ := literalString(mappingValue(permission.Properties, "Principal"))
		if strings.HasSuffix(principal, ".amazonaws.com") && mappingValue(permission.Properties, "SourceArn") == nil {
			r.add(permission.path("SourceArn"), "permission for %s needs a SourceArn, or any resource of that service may invoke", principal)
		}
	}
	return r.findings
}

// wildcardsIn returns a problem for each value under node that is or may be "*".
func wildcardsIn(t *Template, node *yaml.Node) []string {
	var problems []string
	var visit func(*yaml.Node)
	visit = func(node *yaml.Node) {
		if target, ok := refTarget(node); ok {
			if admits, reason := parameterAdmits(t, target, "*"); admits {
				problems = append(problems, fmt.Sprintf("principal parameter %s could be \"*\": %s", target, reason))
			}
			return
		}
		if node.Kind == yaml.ScalarNode {
			// A tagged scalar (!Sub, !GetAtt) keeps its argument text in Value.
			if strings.Contains(node.Value, "*") {
				problems = append(problems, fmt.Sprintf("wildcard principal %q; name the principal", node.Value))
			}
			return
		}
		for i, child := range node.Content {
			if node.Kind == yaml.MappingNode && i%2 == 0 {
				continue
			}
			visit(child)
		}
	}
	visit(node)
	return problems
}

// walkMappings calls visit for every mapping under node with its dotted path.
func walkMappings(node *yaml.Node, path string, visit func(mapping *yaml.Node, path string)) {
	switch node.Kind {
	case yaml.MappingNode:
		visit(node, path)
		for i := 0; i+1 < len(node.Content); i += 2 {
			walkMappings(node.Content[i+1], join(path, node.Content[i].Value), visit)
		}
	case yaml.SequenceNode:
		for i, child := range node.Content {
			walkMappings(child, fmt.Sprintf("%s[%d]", path, i), visit)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
