package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Kinds of client identity, written as the prefix of an allow-list entry
// and of the string that Identity returns.
const (
	kindURI = "uri"
	kindDNS = "dns"
	kindCN  = "cn"
	// kindAny marks a bare entry, which matches any of the three.
	kindAny = ""
)

// allowEntry is one parsed allow-list entry.
type allowEntry struct {
	kind  string
	value string
}

// allowList is the parsed Config.AllowedClients. It is fixed at New.
type allowList []allowEntry

// parseAllowList parses entries of the form "uri:<value>", "dns:<value>",
// "cn:<value>" or a bare "<value>". The prefix is case-insensitive, and
// spaces around an entry are trimmed. A bare value that itself starts with
// one of the prefixes must be written with its kind, for example
// "uri:dns:example".
func parseAllowList(entries []string) (allowList, error) {
	list := make(allowList, 0, len(entries))
	for i, raw := range entries {
		entry := strings.TrimSpace(raw)
		kind, value := kindAny, entry
		if prefix, rest, found := strings.Cut(entry, ":"); found {
			switch strings.ToLower(prefix) {
			case kindURI, kindDNS, kindCN:
				kind, value = strings.ToLower(prefix), rest
			}
		}
		if value == "" {
			return nil, fmt.Errorf("allowed client %d (%q) is empty: write uri:<URI SAN>, dns:<DNS SAN>, cn:<subject CN> or a bare value", i+1, raw)
		}
		list = append(list, allowEntry{kind: kind, value: value})
	}
	return list, nil
}

func (l allowList) empty() bool {
	return len(l) == 0
}

// match returns the identity of the first entry that matches cert, written
// as "<kind>:<value>". URI SANs and the CN match exactly, and DNS SANs
// match without regard to case, because DNS names are case-insensitive.
func (l allowList) match(cert *x509.Certificate) (string, bool) {
	for _, entry := range l {
		if entry.kind == kindAny || entry.kind == kindURI {
			for _, u := range cert.URIs {
				if u.String() == entry.value {
					return kindURI + ":" + entry.value, true
				}
			}
		}
		if entry.kind == kindAny || entry.kind == kindDNS {
			for _, name := range cert.DNSNames {
				if strings.EqualFold(name, entry.value) {
					return kindDNS + ":" + name, true
				}
			}
		}
		if entry.kind == kindAny || entry.kind == kindCN {
			if cert.Subject.CommonName == entry.value {
				return kindCN + ":" + entry.value, true
			}
		}
	}
	return "", false
}

// notAllowedMessage is part of the error that verifyConnection returns. The
// handshake error classifier recognizes client_not_allowed by it.
const notAllowedMessage = "is not in the allowed clients"

// errNoVerifiedChain is returned when a handshake reaches VerifyConnection
// without a verified client chain, which RequireAndVerifyClientCert rules
// out. It fails the handshake rather than skip the allow-list.
var errNoVerifiedChain = errors.New("tlsconfig: no verified client certificate chain")

// verifyConnection applies the allow-list to the verified client leaf.
func (s *Server) verifyConnection(state tls.ConnectionState) error {
	if len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		return errNoVerifiedChain
	}
	if s.allowed.empty() {
		return nil
	}
	leaf := state.VerifiedChains[0][0]
	if _, ok := s.allowed.match(leaf); ok {
		return nil
	}
	// %q escapes control characters, so a crafted subject cannot split the
	// log line. The classifier tests notAllowedMessage first, so text in
	// the subject cannot change the reason either.
	return fmt.Errorf("tlsconfig: client certificate %q %s", certificateIdentity(leaf), notAllowedMessage)
}

// Identity returns the client identity of an mTLS request for the access
// log: the first allow-list entry the verified client certificate matches,
// otherwise its first URI SAN, else its first DNS SAN, else its subject CN,
// written as "uri:<value>", "dns:<value>" or "cn:<value>" (the allow-list
// syntax). It returns "" for a request without a verified client
// certificate. The value comes from a certificate the client CA issued, so
// it may contain any characters and must be escaped in text logs.
func (s *Server) Identity(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return ""
	}
	leaf := r.TLS.VerifiedChains[0][0]
	if identity, ok := s.allowed.match(leaf); ok {
		return identity
	}
	return certificateIdentity(leaf)
}

// certificateIdentity returns the first URI SAN, else the first DNS SAN,
// else the subject CN of cert, with its kind prefix, or "" when it has none.
func certificateIdentity(cert *x509.Certificate) string {
	switch {
	case len(cert.URIs) > 0:
		return kindURI + ":" + cert.URIs[0].String()
	case len(cert.DNSNames) > 0:
		return kindDNS + ":" + cert.DNSNames[0]
	case cert.Subject.CommonName != "":
		return kindCN + ":" + cert.Subject.CommonName
	default:
		return ""
	}
}
