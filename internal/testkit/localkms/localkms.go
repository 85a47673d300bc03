// Package localkms runs local-kms (github.com/nsmithuk/local-kms), a KMS
// emulator, inside the calling process on a loopback listener, so tests, the
// demo and the vector generator talk to a real KMS API without AWS.
//
// TEST ONLY: the seeded key material is public. The package serves local-kms
// through its exported src.HandleRequest rather than its binary, because the
// binary listens on all interfaces.
//
// Aim an AWS SDK client at a Server with AWS_ENDPOINT_URL_KMS=Server.URL,
// AWS_REGION, static test credentials and AWS_EC2_METADATA_DISABLED=true
// (Server.SetEnv does all of it), or build one with Server.Client.
package localkms

import (
	"context"
	_ "embed" // for the default seed
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	localkms "github.com/nsmithuk/local-kms/src"
	"github.com/nsmithuk/local-kms/src/config"
	"github.com/nsmithuk/local-kms/src/data"
	"go.uber.org/goleak"
)

// Identity of the emulated account. local-kms keeps the account id and the
// Region in package-level variables, so every Server in one process shares
// them. They are fixed here so that ARNs are the same in every run.
const (
	AccountID = "111122223333"
	// Region is the Region that local-kms serves and the primary Region of
	// the multi-Region key.
	Region = "eu-west-2"
	// ReplicaRegion is the Region of the emulated multi-Region key replica.
	ReplicaRegion = "us-east-1"
)

// Key ids and alias of the default seed (seed.yaml).
const (
	// PaymentKeyID is the symmetric key the service under test is configured with.
	PaymentKeyID = "740ca468-bb9d-4253-b325-8ca7addb96fa"
	// OtherKeyID is a symmetric key the service under test is not configured
	// with, for key_unknown cases.
	OtherKeyID = "33ee6f7d-d5c3-4532-a3c1-28303bc2dc3b"
	// MultiRegionKeyID is a multi-Region key stored in Region and ReplicaRegion.
	MultiRegionKeyID = "mrk-7ce43e9e45dd00954722e84ad46e22e4"
	// PaymentAliasName is an alias of the payment key.
	PaymentAliasName = "alias/connect-secure-input"
)

// Static test credentials. local-kms does not check signatures; the AWS SDK
// still needs credentials to sign with.
const (
	AccessKeyID     = "AKIDLOCALKMSTEST"
	SecretAccessKey = "local-kms-test-secret"
)

// shutdownTimeout caps how long Close waits for in-flight requests.
const shutdownTimeout = 2 * time.Second

//go:embed seed.yaml
var defaultSeed []byte

// DefaultSeed returns the seed file a Server uses when no seed path is given.
func DefaultSeed() []byte {
	return append([]byte(nil), defaultSeed...)
}

// KeyARN returns the ARN of keyID in region under AccountID.
func KeyARN(region, keyID string) string {
	return "arn:aws:kms:" + region + ":" + AccountID + ":key/" + keyID
}

// AliasARN returns the ARN of an alias name ("alias/...") in Region.
func AliasARN(aliasName string) string {
	return "arn:aws:kms:" + Region + ":" + AccountID + ":" + aliasName
}

// Keys names the ARNs of the default seed.
type Keys struct {
	Payment            string `json:"payment"`
	Other              string `json:"other"`
	PaymentAlias       string `json:"payment_alias"`
	MultiRegion        string `json:"multi_region"`
	MultiRegionReplica string `json:"multi_region_replica"`
}

// DefaultKeys returns the ARNs of the keys in the default seed.
func DefaultKeys() Keys {
	return Keys{
		Payment:            KeyARN(Region, PaymentKeyID),
		Other:              KeyARN(Region, OtherKeyID),
		PaymentAlias:       AliasARN(PaymentAliasName),
		MultiRegion:        KeyARN(Region, MultiRegionKeyID),
		MultiRegionReplica: KeyARN(ReplicaRegion, MultiRegionKeyID),
	}
}

// Server is a local-kms instance serving HTTP on a loopback address, with its
// own data directory that Close removes.
type Server struct {
	// URL is the endpoint, "http://127.0.0.1:<port>".
	URL string
	// KeyARNs lists every seeded key record, multi-Region replicas included, sorted.
	KeyARNs []string
	// AliasARNs lists every seeded alias, sorted.
	AliasARNs []string

	cancel    context.CancelFunc
	done      chan struct{}
	err       error
	transport *http.Transport
}

// Serve starts local-kms on addr, which must be a loopback IP address with a
// port ("127.0.0.1:0" picks a free one), seeded from the local-kms seed file
// at seedPath, or from the default seed when seedPath is empty. It returns
// once the listener is open; the server runs until ctx is done or Close is
// called.
func Serve(ctx context.Context, addr, seedPath string) (*Server, error) {
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	seed := defaultSeed
	if seedPath != "" {
		var err error
		if seed, err = os.ReadFile(seedPath); err != nil {
			return nil, fmt.Errorf("read local-kms seed: %w", err)
		}
	}
	configure()

	dataDir, err := os.MkdirTemp("", "local-kms-")
	if err != nil {
		return nil, fmt.Errorf("create local-kms data directory: %w", err)
	}
	db, err := openDatabase(filepath.Join(dataDir, "db"))
	if err != nil {
		_ = os.RemoveAll(dataDir)
		return nil, err
	}
	cleanup := func() {
		db.Close()
		_ = os.RemoveAll(dataDir)
	}

	seeded, err := applySeed(db, seed)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("seed local-kms from %s: %w", seedName(seedPath), err)
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("listen for local-kms on %s: %w", addr, err)
	}

	ctx, cancel := context.WithCancel(ctx)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil // the server is on loopback; never route through a proxy
	s := &Server{
		URL:       "http://" + ln.Addr().String(),
		KeyARNs:   seeded.keyARNs,
		AliasARNs: seeded.aliasARNs,
		cancel:    cancel,
		done:      make(chan struct{}),
		transport: transport,
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			localkms.HandleRequest(w, r, db)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
	}
	go s.run(ctx, srv, ln, cleanup)
	return s, nil
}

// Start serves local-kms with the default seed on a free loopback port for
// the duration of the test, and stops it in the test's cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := Serve(context.Background(), "127.0.0.1:0", "")
	if err != nil {
		t.Fatalf("start local-kms: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stop local-kms: %v", err)
		}
	})
	return s
}

// run serves until ctx is done or the listener fails, then releases the
// database and the data directory.
func (s *Server) run(ctx context.Context, srv *http.Server, ln net.Listener, cleanup func()) {
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	var err error
	select {
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		err = srv.Shutdown(shutdownCtx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			// A connection that an SDK client dialed but never sent a request
			// on stays in StateNew, which Shutdown waits up to five seconds
			// for; nothing is in flight on it, so closing it loses nothing.
			err = srv.Close()
		}
		<-serveErr
	case err = <-serveErr:
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}

	s.transport.CloseIdleConnections()
	cleanup()
	s.err = err
	close(s.done)
}

// Close stops the server, waits for it to release its data directory and
// returns the error that ended it, if any. It is safe to call more than once.
func (s *Server) Close() error {
	s.cancel()
	<-s.done
	return s.err
}

// Done is closed once the server has stopped and released its data directory.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err returns the error that stopped the server; it is valid after Done is closed.
func (s *Server) Err() error {
	<-s.done
	return s.err
}

// Env returns the environment, as KEY=value lines, that aims the AWS SDKs'
// default configuration (Go and JavaScript) at this server in Region with
// static test credentials and no instance metadata lookups.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_KMS=" + s.URL,
		"AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
		"AWS_SESSION_TOKEN=",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// SetEnv applies Env to the test's process environment with t.Setenv and
// points the shared AWS config and credentials files at a missing path, so a
// developer's ~/.aws cannot change the result. Like t.Setenv, it cannot be
// used in parallel tests.
func (s *Server) SetEnv(t testing.TB) {
	t.Helper()
	for _, kv := range s.Env() {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
	missing := filepath.Join(t.TempDir(), "no-aws-config")
	t.Setenv("AWS_CONFIG_FILE", missing)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", missing)
	t.Setenv("AWS_PROFILE", "")
}

// Client returns a KMS client for region aimed at this server with the static
// test credentials. Any Region works: local-kms serves every Region from one
// endpoint and finds keys by ARN.
func (s *Server) Client(region string) *kms.Client {
	return kms.New(kms.Options{
		Region:       region,
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		HTTPClient:   &http.Client{Transport: s.transport},
	})
}

// GoleakOptions returns the goleak options a test package needs when it runs
// a Server under goleak: LevelDB's memory-pool goroutine stays up to one
// second after the database is closed, by design of goleveldb, and is no leak.
func GoleakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"),
	}
}

var configureOnce sync.Once

// configure sets local-kms's package-level account id and Region once per
// process, before any key is seeded or served.
func configure() {
	configureOnce.Do(func() {
		config.AWSAccountId = AccountID
		config.AWSRegion = Region
	})
}

// openDatabase opens the LevelDB store of local-kms, turning the panic with
// which data.NewDatabase reports a failure into an error.
func openDatabase(path string) (db *data.Database, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("open local-kms database in %s: %v", path, r)
		}
	}()
	return data.NewDatabase(path), nil
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid local-kms address %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("invalid local-kms address %q: the host must be a loopback IP address such as 127.0.0.1", addr)
	}
	return nil
}

func seedName(seedPath string) string {
	if seedPath == "" {
		return "the default seed"
	}
	return seedPath
}
