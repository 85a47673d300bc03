package tlsconfig_test

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/connect-secure-input/processor/internal/testkit/pki"
	"github.com/connect-secure-input/processor/internal/tlsconfig"
)

func TestNewRejectsBadMaterial(t *testing.T) {
	serverCA := pki.NewCA(t, "server CA")
	clientCA := pki.NewCA(t, "client CA")
	good := serverCA.Issue(t, pki.ServerOptions())
	other := serverCA.Issue(t, pki.ServerOptions())
	expired := serverCA.Issue(t, pki.ExpiredOptions(pki.ServerOptions()))
	leaf := clientCA.Issue(t, pki.ClientOptions("forwarder"))

	tests := []struct {
		name string
		// files maps a file name (server.crt, server.key, client-ca.pem) to
		// its content. A missing name is not written.
		files   map[string][]byte
		config  func(cfg *tlsconfig.Config)
		wantErr []string
	}{
		{
			name:    "missing certificate file",
			files:   map[string][]byte{"server.key": good.KeyPEM, "client-ca.pem": clientCA.CertPEM},
			wantErr: []string{"read server certificate file", "server.crt", "no such file"},
		},
		{
			name:    "missing client CA file",
			files:   map[string][]byte{"server.crt": good.CertPEM, "server.key": good.KeyPEM},
			wantErr: []string{"read client CA file", "client-ca.pem", "no such file"},
		},
		{
			name:    "certificate file without PEM",
			files:   map[string][]byte{"server.crt": []byte("not a certificate"), "server.key": good.KeyPEM, "client-ca.pem": clientCA.CertPEM},
			wantErr: []string{"server certificate file", "server.crt", "no PEM CERTIFICATE block"},
		},
		{
			name:    "key file holds a certificate",
			files:   map[string][]byte{"server.crt": good.CertPEM, "server.key": good.CertPEM, "client-ca.pem": clientCA.CertPEM},
			wantErr: []string{"server key file", "server.key", "private key block"},
		},
		{
			name:    "key of another certificate",
			files:   map[string][]byte{"server.crt": good.CertPEM, "server.key": other.KeyPEM, "client-ca.pem": clientCA.CertPEM},
			wantErr: []string{"server.crt", "server.key", "private key does not match public key"},
		},
		{
			name:    "truncated key file",
			files:   map[string][]byte{"server.crt": good.CertPEM, "server.key": good.KeyPEM[:len(good.KeyPEM)/2], "client-ca.pem": clientCA.CertPEM},
			wantErr: []string{"server key file", "server.key", "incomplete or damaged PEM block"},
		},
		{
			name:    "expired server certificate",
			files:   map[string][]byte{"server.crt": expired.CertPEM, "server.key": expired.KeyPEM, "client-ca.pem": clientCA.CertPEM},
			wantErr: []string{"server certificate file", "server.crt", "expired at", "install a renewed certificate"},
		},
		{
			name:    "empty client CA file",
			files:   map[string][]byte{"server.crt": good.CertPEM, "server.key": good.KeyPEM, "client-ca.pem": {}},
			wantErr: []string{"client CA file", "client-ca.pem", "no PEM CERTIFICATE block"},
		},
		{
			name:    "truncated client CA file",
			files:   map[string][]byte{"server.crt": good.CertPEM, "server.key": good.KeyPEM, "client-ca.pem": clientCA.CertPEM[:len(clientCA.CertPEM)-40]},
			wantErr: []string{"client CA file", "client-ca.pem", "incomplete or damaged PEM block"},
		},
		{
			name:    "leaf certificate in client CA file",
			files:   map[string][]byte{"server.crt": good.CertPEM, "server.key": good.KeyPEM, "client-ca.pem": append(append([]byte{}, clientCA.CertPEM...), leaf.CertPEM...)},
			wantErr: []string{"client CA file", "client-ca.pem", "certificate 2", "is not a CA certificate"},
		},
		{
			name:    "key in client CA file",
			files:   map[string][]byte{"server.crt": good.CertPEM, "server.key": good.KeyPEM, "client-ca.pem": good.KeyPEM},
			wantErr: []string{"client CA file", "PEM block 1 is \"PRIVATE KEY\", expected CERTIFICATE"},
		},
		{
			name:    "empty allow-list entry",
			files:   map[string][]byte{"server.crt": good.CertPEM, "server.key": good.KeyPEM, "client-ca.pem": clientCA.CertPEM},
			config:  func(cfg *tlsconfig.Config) { cfg.AllowedClients = []string{"cn:forwarder", "dns:"} },
			wantErr: []string{"allowed client 2", `"dns:"`, "is empty"},
		},
		{
			name:    "TLS 1.1 minimum",
			files:   map[string][]byte{"server.crt": good.CertPEM, "server.key": good.KeyPEM, "client-ca.pem": clientCA.CertPEM},
			config:  func(cfg *tlsconfig.Config) { cfg.MinVersion = tls.VersionTLS11 },
			wantErr: []string{"invalid minimum TLS version 0x0302"},
		},
		{
			name:    "certificate file not set",
			config:  func(cfg *tlsconfig.Config) { cfg.CertFile = "" },
			wantErr: []string{"server certificate file is not set"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg := tlsconfig.Config{
				CertFile:     filepath.Join(dir, "server.crt"),
				KeyFile:      filepath.Join(dir, "server.key"),
				ClientCAFile: filepath.Join(dir, "client-ca.pem"),
			}
			if tt.config != nil {
				tt.config(&cfg)
			}

			server, err := tlsconfig.New(cfg, zap.NewNop(), nil)

			if err == nil {
				server.Close()
				t.Fatal("New succeeded, want an error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			for _, key := range []*pki.Cert{good, other, expired} {
				if containsKeyMaterial(err.Error(), key.KeyPEM) {
					t.Errorf("error %q contains private key material", err)
				}
			}
		})
	}
}

// containsKeyMaterial reports whether text contains any base64 line of the
// PEM key.
func containsKeyMaterial(text string, keyPEM []byte) bool {
	for line := range strings.Lines(string(keyPEM)) {
		line = strings.TrimSpace(line)
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") && strings.Contains(text, line[:16]) {
			return true
		}
	}
	return false
}

func TestBadReloadKeepsLoaded(t *testing.T) {
	f := startFixture(t, fixtureOptions{})
	client := newClient(t, clientOptions{roots: f.serverCA.CertPool(), cert: fixedCert(f.clientCA.Issue(t, pki.ClientOptions("forwarder")))})
	loadedSerial := fmt.Sprintf("%x", f.serverCert.Certificate.SerialNumber)
	const failed = "TLS material reload failed: still serving the certificate and client CAs loaded before"

	tests := []struct {
		name    string
		corrupt func(t *testing.T)
		wantErr string
	}{
		{
			name: "garbage key file",
			corrupt: func(t *testing.T) {
				writeFile(t, f.serverFiles.KeyFile, []byte("garbage"))
			},
			wantErr: f.serverFiles.KeyFile,
		},
		{
			name: "key of another certificate",
			corrupt: func(t *testing.T) {
				writeFile(t, f.serverFiles.KeyFile, f.serverCA.Issue(t, pki.ServerOptions()).KeyPEM)
			},
			wantErr: "private key does not match public key",
		},
		{
			name: "removed client CA file",
			corrupt: func(t *testing.T) {
				if err := os.Remove(f.clientCAFile); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: f.clientCAFile,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loadsBefore := len(f.hooks.loads(tlsconfig.CertificateServer))
			errorsBefore := len(entriesWithMessage(f.logs, failed))
			tt.corrupt(t)

			for attempt := range 3 {
				err := f.tls.Reload()
				if err == nil {
					t.Fatalf("Reload %d succeeded, want an error", attempt+1)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Reload %d error %q does not contain %q", attempt+1, err, tt.wantErr)
				}
			}

			entries := entriesWithMessage(f.logs, failed)
			if got := len(entries) - errorsBefore; got != 1 {
				t.Fatalf("got %d reload error entries for three Reload calls, want 1", got)
			}
			if logged, _ := entries[len(entries)-1].ContextMap()["error"].(string); !strings.Contains(logged, tt.wantErr) {
				t.Errorf("logged error %q does not contain %q", logged, tt.wantErr)
			}
			if got := len(f.hooks.loads(tlsconfig.CertificateServer)) - loadsBefore; got != 0 {
				t.Errorf("CertificateLoaded called %d times, want 0", got)
			}
			resp, err := get(client, f.url)
			if err != nil {
				t.Fatalf("request after the bad reload failed: %v", err)
			}
			if resp.serverSerial != loadedSerial {
				t.Errorf("served certificate serial = %s, want the loaded %s", resp.serverSerial, loadedSerial)
			}

			// Restore the good files. Reload then finds the loaded
			// contents and has nothing to do.
			f.serverCert.Write(t, f.dir, "server")
			if err := pki.WriteBundle(f.clientCAFile, f.clientCA); err != nil {
				t.Fatal(err)
			}
			if err := f.tls.Reload(); err != nil {
				t.Fatalf("Reload with the good files restored: %v", err)
			}
		})
	}
}

func TestReloadReportsNewMaterial(t *testing.T) {
	f := startFixture(t, fixtureOptions{})
	client := newClient(t, clientOptions{roots: f.serverCA.CertPool(), cert: fixedCert(f.clientCA.Issue(t, pki.ClientOptions("forwarder")))})

	newCert := f.serverCA.Issue(t, pki.Options{
		CommonName:  "rotated",
		DNSNames:    []string{"localhost"},
		IPAddresses: pki.ServerOptions().IPAddresses,
		Usage:       pki.UsageServer,
		NotAfter:    time.Now().Add(72 * time.Hour).Truncate(time.Second),
	})
	shortCA, err := pki.GenerateCA(pki.CAOptions{CommonName: "short-lived client CA", NotAfter: time.Now().Add(48 * time.Hour).Truncate(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	newCert.Write(t, f.dir, "server")
	if err := pki.WriteBundle(f.clientCAFile, f.clientCA, shortCA); err != nil {
		t.Fatal(err)
	}

	if err := f.tls.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}

	serverLoads := f.hooks.loads(tlsconfig.CertificateServer)
	if len(serverLoads) != 2 || !serverLoads[1].Equal(newCert.Certificate.NotAfter) {
		t.Errorf("server NotAfter reported = %v, want [<initial> %v]", serverLoads, newCert.Certificate.NotAfter)
	}
	caLoads := f.hooks.loads(tlsconfig.CertificateClientCA)
	if len(caLoads) != 2 || !caLoads[1].Equal(shortCA.Certificate.NotAfter) {
		t.Errorf("client CA NotAfter reported = %v, want [<initial> %v] (the earliest in the bundle)", caLoads, shortCA.Certificate.NotAfter)
	}

	entries := entriesWithMessage(f.logs, "TLS material reloaded")
	if len(entries) != 1 {
		t.Fatalf("got %d reload entries, want 1", len(entries))
	}
	fields := entries[0].ContextMap()
	if got, want := fields["server_certificate_serial"], fmt.Sprintf("%x", newCert.Certificate.SerialNumber); got != want {
		t.Errorf("logged serial = %v, want %s", got, want)
	}
	if got := fields["server_certificate_subject"]; got != "CN=rotated" {
		t.Errorf("logged subject = %v, want CN=rotated", got)
	}
	if got, _ := fields["server_certificate_not_after"].(time.Time); !got.Equal(newCert.Certificate.NotAfter) {
		t.Errorf("logged NotAfter = %v, want %v", got, newCert.Certificate.NotAfter)
	}
	if got := fields["client_ca_count"]; got != int64(2) {
		t.Errorf("logged client_ca_count = %v, want 2", got)
	}

	resp, err := get(client, f.url)
	if err != nil {
		t.Fatalf("request after reload: %v", err)
	}
	if want := fmt.Sprintf("%x", newCert.Certificate.SerialNumber); resp.serverSerial != want {
		t.Errorf("served certificate serial = %s, want the new %s", resp.serverSerial, want)
	}
}

func TestRotationWithoutFailedRequests(t *testing.T) {
	f := startFixture(t, fixtureOptions{allowedClients: []string{"cn:forwarder"}, reloadInterval: 10 * time.Millisecond})
	newServerCA := pki.NewCA(t, "next server CA")
	newClientCA := pki.NewCA(t, "next client CA")
	oldClientCert := f.clientCA.Issue(t, pki.ClientOptions("forwarder"))
	newClientCert := newClientCA.Issue(t, pki.ClientOptions("forwarder"))

	// The client trusts the old and the new server CA throughout, as a
	// client does during the overlap of a server CA rotation.
	var clientCert atomic.Pointer[tls.Certificate]
	clientCert.Store(fixedCert(oldClientCert)())
	client := newClient(t, clientOptions{
		roots: poolOf(f.serverCA, newServerCA),
		cert:  clientCert.Load,
	})

	const workers = 4
	traffic := newTraffic(f.sig, workers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for worker := range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				epoch := traffic.epoch()
				resp, err := get(client, f.url)
				traffic.record(worker, epoch, resp, err)
			}
		})
	}
	stopTraffic := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	t.Cleanup(stopTraffic)

	oldServerSerial := fmt.Sprintf("%x", f.serverCert.Certificate.SerialNumber)
	waitFor(t, f.sig, "requests served with the first server certificate", func() bool {
		return traffic.servedBy(oldServerSerial) >= 5
	})

	// Rotate the server certificate to one from the new server CA.
	newServerCert := newServerCA.Issue(t, pki.ServerOptions())
	newServerCert.Write(t, f.dir, "server")
	newServerSerial := fmt.Sprintf("%x", newServerCert.Certificate.SerialNumber)
	waitFor(t, f.sig, "requests served with the rotated server certificate", func() bool {
		return traffic.servedBy(newServerSerial) >= 5
	})

	// Rotate the client CA: first trust both, then move the client to a
	// certificate of the new CA, then drop the old CA. Each step waits for
	// the reload's log entry by its CA count, because a count of hook calls
	// taken here could still miss the late hooks of the previous reload.
	if err := pki.WriteBundle(f.clientCAFile, f.clientCA, newClientCA); err != nil {
		t.Fatal(err)
	}
	var twoCALoad int
	waitFor(t, f.sig, "the two-CA bundle to load", func() bool {
		twoCALoad = reloadWithCACount(f, 0, 2)
		return twoCALoad >= 0
	})
	// A handshake keeps the client CAs it started with, so one that began
	// before the load would reject the new certificate. Operators leave
	// the overlap in place for much longer than a handshake takes. The test
	// waits until every worker has finished a request begun after the load.
	mark := traffic.mark()
	waitFor(t, f.sig, "handshakes begun before the two-CA load to finish", func() bool {
		return traffic.settled(mark)
	})
	clientCert.Store(fixedCert(newClientCert)())
	mark = traffic.mark()
	waitFor(t, f.sig, "every worker to use the new client certificate", func() bool {
		return traffic.settled(mark)
	})
	newClientSerial := fmt.Sprintf("%x", newClientCert.Certificate.SerialNumber)
	if got := traffic.clientSerial(newClientSerial); got == 0 {
		t.Fatal("no request reached the server with the new client certificate")
	}
	if err := pki.WriteBundle(f.clientCAFile, newClientCA); err != nil {
		t.Fatal(err)
	}
	waitFor(t, f.sig, "the new CA alone to load", func() bool {
		return reloadWithCACount(f, twoCALoad+1, 1) >= 0
	})
	after := traffic.successes()
	waitFor(t, f.sig, "requests after the old client CA was dropped", func() bool {
		return traffic.successes() >= after+5
	})
	stopTraffic()

	if failures := traffic.failures(); len(failures) > 0 {
		t.Errorf("%d of %d requests failed during rotation, first: %v", len(failures), traffic.successes()+len(failures), failures[0])
	}
	if got := f.hooks.totalFailures(); got != 0 {
		t.Errorf("handshake failures counted during rotation = %d, want 0", got)
	}

	// The old client CA no longer verifies: a certificate it issued is
	// rejected.
	oldClient := newClient(t, clientOptions{roots: poolOf(newServerCA), cert: fixedCert(oldClientCert)})
	if _, err := get(oldClient, f.url); err == nil {
		t.Fatal("request with a certificate of the dropped client CA succeeded")
	}
	waitFor(t, f.sig, "the dropped CA's certificate to be counted", func() bool {
		return f.hooks.failureCount(tlsconfig.ReasonUnknownAuthority) == 1
	})
}

// reloadWithCACount returns the index of the first "TLS material reloaded"
// log entry at index from or later whose client_ca_count is count, or -1.
func reloadWithCACount(f *fixture, from, count int) int {
	for i, entry := range f.logs.All() {
		if i >= from && entry.Message == "TLS material reloaded" && entry.ContextMap()["client_ca_count"] == int64(count) {
			return i
		}
	}
	return -1
}

// traffic tallies the results of the rotation test's request loops. An
// epoch counter lets the test wait until every worker has finished a
// request that began after a given moment.
type traffic struct {
	sig *signal

	mu            sync.Mutex
	currentEpoch  int
	workerEpochs  []int // epoch at the start of each worker's last finished request
	byServer      map[string]int
	byClient      map[string]int
	ok            int
	failedResults []error
}

func newTraffic(sig *signal, workers int) *traffic {
	return &traffic{
		sig:          sig,
		workerEpochs: make([]int, workers),
		byServer:     make(map[string]int),
		byClient:     make(map[string]int),
	}
}

func (tr *traffic) epoch() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.currentEpoch
}

// mark starts a new epoch and returns it.
func (tr *traffic) mark() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.currentEpoch++
	return tr.currentEpoch
}

// settled reports whether every worker has finished a request that began
// in epoch mark or later.
func (tr *traffic) settled(mark int) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, epoch := range tr.workerEpochs {
		if epoch < mark {
			return false
		}
	}
	return true
}

func (tr *traffic) record(worker, epoch int, resp response, err error) {
	tr.mu.Lock()
	tr.workerEpochs[worker] = epoch
	if err != nil {
		tr.failedResults = append(tr.failedResults, err)
	} else {
		tr.ok++
		tr.byServer[resp.serverSerial]++
		tr.byClient[resp.clientSerial]++
	}
	tr.mu.Unlock()
	tr.sig.broadcast()
}

func (tr *traffic) servedBy(serial string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.byServer[serial]
}

func (tr *traffic) clientSerial(serial string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.byClient[serial]
}

func (tr *traffic) successes() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.ok
}

func (tr *traffic) failures() []error {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]error(nil), tr.failedResults...)
}

// writeFile replaces path by rename, as a secrets sidecar does.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
