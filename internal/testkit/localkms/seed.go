package localkms

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nsmithuk/local-kms/src/cmk"
	"github.com/nsmithuk/local-kms/src/config"
	"github.com/nsmithuk/local-kms/src/data"
	"gopkg.in/yaml.v2"
)

// multiRegionPrefix starts the key id of every AWS KMS multi-Region key.
const multiRegionPrefix = "mrk-"

// seedFile is the local-kms v3 seed format, parsed with local-kms's own key
// types so that key material and metadata are decoded exactly as its
// (unexported) seeding code does.
type seedFile struct {
	Keys struct {
		Symmetric struct {
			Aes  []cmk.AesKey  `yaml:"Aes"`
			Hmac []cmk.HmacKey `yaml:"Hmac"`
		} `yaml:"Symmetric"`
		Asymmetric struct {
			Rsa []cmk.RsaKey `yaml:"Rsa"`
			Ecc []cmk.EccKey `yaml:"Ecc"`
		} `yaml:"Asymmetric"`
	} `yaml:"Keys"`
	Aliases []data.Alias `yaml:"Aliases"`
}

type seedResult struct {
	keyARNs   []string
	aliasARNs []string
}

// applySeed stores the keys and aliases of a seed file in db. Unlike
// local-kms, it rejects unknown fields, duplicate keys and aliases that point
// at no key, because a silently skipped test key only shows up later as a
// confusing decrypt failure.
//
// local-kms has no multi-Region keys: it serves one Region per process and
// its keys carry no MultiRegion flag. A key whose id starts with "mrk-" is
// therefore also stored under its ARN in ReplicaRegion with the same key
// material. To a client that is a replica, because the AWS Encryption SDK's
// multi-Region-aware keyrings match ARNs by key id and call Decrypt with the
// replica ARN.
//
// NOTE: DescribeKey still reports such a key as single-Region, and a key
// created through the API is never replicated.
func applySeed(db *data.Database, raw []byte) (seedResult, error) {
	var seed seedFile
	if err := yaml.UnmarshalStrict(raw, &seed); err != nil {
		return seedResult{}, fmt.Errorf("parse seed: %w", err)
	}

	var keys []cmk.Key
	for i := range seed.Keys.Symmetric.Aes {
		k := &seed.Keys.Symmetric.Aes[i]
		keys = append(keys, k)
		if isMultiRegion(k) {
			keys = append(keys, replicate(k))
		}
	}
	for i := range seed.Keys.Symmetric.Hmac {
		k := &seed.Keys.Symmetric.Hmac[i]
		keys = append(keys, k)
		if isMultiRegion(k) {
			keys = append(keys, replicate(k))
		}
	}
	for i := range seed.Keys.Asymmetric.Rsa {
		k := &seed.Keys.Asymmetric.Rsa[i]
		keys = append(keys, k)
		if isMultiRegion(k) {
			keys = append(keys, replicate(k))
		}
	}
	for i := range seed.Keys.Asymmetric.Ecc {
		k := &seed.Keys.Asymmetric.Ecc[i]
		keys = append(keys, k)
		if isMultiRegion(k) {
			keys = append(keys, replicate(k))
		}
	}

	var result seedResult
	stored := make(map[string]bool, len(keys))
	for _, k := range keys {
		arn := k.GetArn()
		if stored[arn] {
			return seedResult{}, fmt.Errorf("duplicate key %s", arn)
		}
		if err := db.SaveKey(k); err != nil {
			return seedResult{}, fmt.Errorf("store key %s: %w", arn, err)
		}
		stored[arn] = true
		result.keyARNs = append(result.keyARNs, arn)
	}

	for _, alias := range seed.Aliases {
		if !strings.HasPrefix(alias.AliasName, "alias/") {
			return seedResult{}, fmt.Errorf("invalid alias name %q: it must start with alias/", alias.AliasName)
		}
		target := config.EnsureArn("key/", alias.TargetKeyId)
		if !stored[target] {
			return seedResult{}, fmt.Errorf("alias %s targets key %s, which is not in the seed", alias.AliasName, alias.TargetKeyId)
		}
		alias.AliasArn = config.ArnPrefix() + alias.AliasName
		if err := db.SaveAlias(&alias); err != nil {
			return seedResult{}, fmt.Errorf("store alias %s: %w", alias.AliasName, err)
		}
		result.aliasARNs = append(result.aliasARNs, alias.AliasArn)
	}

	sort.Strings(result.keyARNs)
	sort.Strings(result.aliasARNs)
	return result, nil
}

func isMultiRegion(k cmk.Key) bool {
	return strings.HasPrefix(k.GetMetadata().KeyId, multiRegionPrefix)
}

// replicate returns a copy of key stored under its ARN in ReplicaRegion. The
// copy shares the read-only key material of the original.
func replicate[K any, P interface {
	*K
	cmk.Key
}](key P) cmk.Key {
	replica := P(new(K))
	*replica = *key
	replica.GetMetadata().Arn = KeyARN(ReplicaRegion, key.GetMetadata().KeyId)
	return replica
}
