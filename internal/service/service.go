// Package service wires the processor's parts together and runs them: the
// mTLS API listener, the plain ops listener, the background recovery and
// retention loops, and the shutdown sequence. cmd/processor calls it, and so
// do the end-to-end tests, so both run exactly the same service.
package service

import (
	"context"
	"crypto/fips140"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sync/errgroup"

	"github.com/connect-secure-input/processor/internal/authorize"
	"github.com/connect-secure-input/processor/internal/card"
	"github.com/connect-secure-input/processor/internal/config"
	"github.com/connect-secure-input/processor/internal/decrypt"
	"github.com/connect-secure-input/processor/internal/httpapi"
	"github.com/connect-secure-input/processor/internal/metrics"
	"github.com/connect-secure-input/processor/internal/redact"
	"github.com/connect-secure-input/processor/internal/store"
	"github.com/connect-secure-input/processor/internal/tlsconfig"
	"github.com/connect-secure-input/processor/internal/ttl"
)

// Server timeouts of the API listener. The write timeout covers the request
// budget plus the decrypts and the response.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 16 << 10
	writeMargin       = 5 * time.Second
	// opsTimeout bounds every ops request (a metrics scrape, a probe).
	opsTimeout = 10 * time.Second
	// checkInterval is how often the store and KMS are checked for /readyz.
	checkInterval = 10 * time.Second
	checkTimeout  = 2 * time.Second
)

// Service is one running processor.
type Service struct {
	cfg     config.Config
	log     *zap.Logger
	metrics *metrics.Metrics
	tls     *tlsconfig.Server
	vault   *ttl.Vault
	store   store.Store
	auth    *authorize.Service
	dec     *decrypt.Decrypter
	kmsHead func(context.Context) error

	apiListener net.Listener
	opsListener net.Listener
	apiServer   *http.Server
	opsServer   *http.Server

	shuttingDown atomic.Bool
	storeOK      atomic.Bool
	kmsOK        atomic.Bool
}

// New builds every part from cfg and opens both listeners, so that a
// configuration or key problem stops start-up before anything is served.
func New(ctx context.Context, cfg config.Config, log *zap.Logger, m *metrics.Metrics) (_ *Service, err error) {
	s := &Service{cfg: cfg, log: log, metrics: m}
	defer func() {
		if err != nil {
			s.closeParts()
		}
	}()

	log.Info("starting processor",
		zap.Bool("fips140", fips140.Enabled()),
		zap.String("gateway", cfg.Gateway), zap.String("store", cfg.Store), zap.String("task_id", cfg.TaskID))

	if s.dec, s.kmsHead, err = buildDecrypter(ctx, cfg, log); err != nil {
		return nil, err
	}
	m.SetVaultCapacity(cfg.VaultMaxEntries)
	if s.vault, err = ttl.New(ttl.Config{TTL: cfg.SADTTL, MaxEntries: cfg.VaultMaxEntries, Hooks: m.VaultHooks()}); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s.store = countingStore{Store: st, m: m}
	gw, err := buildGateway(cfg)
	if err != nil {
		return nil, err
	}

	masterKey := cfg.FingerprintKey.Bytes()
	if len(masterKey) == 0 {
		masterKey = make([]byte, 32)
		_, _ = rand.Read(masterKey)
		if cfg.Store == "postgres" {
			log.Warn("PROCESSOR_FINGERPRINT_KEY is unset with a shared store: repeats that reach another task will be reported as idempotency conflicts; set the same key on every task")
		}
	}
	cards, err := card.NewFingerprinter(deriveKey(masterKey, "card-fingerprint"))
	if err != nil {
		return nil, err
	}
	if s.auth, err = authorize.New(authorize.Config{
		Budget: cfg.RequestBudget, LeaseMargin: cfg.LeaseMargin, Owner: cfg.TaskID, MOTO: true, CaptureMode: captureMode(cfg.CaptureMode),
		FingerprintKey: deriveKey(masterKey, "request-fingerprint"),
	}, s.store, s.vault, gw, cards, m, log.Named("authorize")); err != nil {
		return nil, err
	}

	if s.tls, err = tlsconfig.New(tlsconfig.Config{
		CertFile: cfg.TLSCertFile, KeyFile: cfg.TLSKeyFile, ClientCAFile: cfg.ClientCAFile,
		AllowedClients: cfg.AllowedClients, ReloadInterval: cfg.TLSReloadInterval,
	}, log.Named("tls"), m); err != nil {
		return nil, err
	}

	api, err := httpapi.New(httpapi.Config{
		MaxBodyBytes: cfg.MaxBodyBytes, MaxConcurrent: cfg.MaxConcurrent, MaxAmount: cfg.MaxAmount, ExpiryMaxYears: cfg.ExpiryMaxYears,
	}, httpapi.Deps{Decrypter: s.dec, Authorizer: s.auth, Cards: cards, Observer: m, Logger: log.Named("api"), Audit: log.Named("audit"), Identity: s.tls.Identity})
	if err != nil {
		return nil, err
	}
	if err := s.listen(api.Handler()); err != nil {
		return nil, err
	}
	s.storeOK.Store(true)
	s.kmsOK.Store(true)
	return s, nil
}

// listen opens both listeners and builds their servers.
func (s *Service) listen(apiHandler http.Handler) error {
	var err error
	if s.apiListener, err = net.Listen("tcp", s.cfg.ListenAddr); err != nil {
		return fmt.Errorf("listen on PROCESSOR_LISTEN_ADDR %s: %w", s.cfg.ListenAddr, err)
	}
	if s.opsListener, err = net.Listen("tcp", s.cfg.OpsAddr); err != nil {
		return fmt.Errorf("listen on PROCESSOR_OPS_ADDR %s: %w", s.cfg.OpsAddr, err)
	}
	s.apiServer = &http.Server{
		Handler:           apiHandler,
		TLSConfig:         s.tls.TLSConfig(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      s.cfg.RequestBudget + writeMargin,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          s.tls.HandshakeErrorLog(),
	}
	s.opsServer = &http.Server{
		Handler:           http.TimeoutHandler(s.opsHandler(), opsTimeout, "timeout\n"),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      opsTimeout + time.Second,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          redact.NewStdLogger(s.log.Named("ops"), zapcore.WarnLevel),
	}
	return nil
}

// APIAddr and OpsAddr return the bound addresses, useful with port 0.
func (s *Service) APIAddr() string { return s.apiListener.Addr().String() }
func (s *Service) OpsAddr() string { return s.opsListener.Addr().String() }

// Run serves until ctx ends (SIGTERM or SIGINT in main), then shuts down:
// readiness goes false, the API stops accepting and drains in-flight
// requests within the drain timeout, background authorizations get the rest
// of it, the vault is wiped, and the ops listener stops last so that the
// drain stays observable. A clean shutdown returns nil.
func (s *Service) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	loops, stopLoops := context.WithCancel(context.Background())
	defer stopLoops()

	g.Go(func() error {
		if err := s.apiServer.ServeTLS(s.apiListener, "", ""); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("API listener: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := s.opsServer.Serve(s.opsListener); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("ops listener: %w", err)
		}
		return nil
	})
	go s.auth.RunRecovery(loops, s.cfg.RecoveryEvery)
	go s.auth.RunRetention(loops, s.cfg.RecordRetention, authorize.DefaultRetentionInterval)
	go s.runChecks(loops)
	s.log.Info("processor ready", zap.String("api_addr", s.APIAddr()), zap.String("ops_addr", s.OpsAddr()))

	g.Go(func() error {
		<-gctx.Done()
		return s.shutdown(stopLoops)
	})
	return g.Wait()
}

func (s *Service) shutdown(stopLoops context.CancelFunc) error {
	start := time.Now()
	s.shuttingDown.Store(true)
	s.log.Info("shutting down", zap.Duration("drain_timeout", s.cfg.DrainTimeout))

	drain, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	defer cancel()
	apiErr := s.apiServer.Shutdown(drain)
	if apiErr != nil {
		s.log.Warn("API drain did not finish in time; closing remaining connections", zap.Error(apiErr))
		_ = s.apiServer.Close()
	}
	s.auth.Close(max(time.Until(start.Add(s.cfg.DrainTimeout)), 0))
	stopLoops()
	s.closeParts()

	opsCtx, opsCancel := context.WithTimeout(context.Background(), time.Second)
	defer opsCancel()
	_ = s.opsServer.Shutdown(opsCtx)
	s.log.Info("processor stopped", zap.Duration("shutdown", time.Since(start)))
	return nil
}

// closeParts wipes the vault and releases the store and the certificate
// poller; it is safe on a partly built Service.
func (s *Service) closeParts() {
	if s.vault != nil {
		s.vault.Close()
	}
	if s.store != nil {
		s.store.Close()
	}
	if s.tls != nil {
		s.tls.Close()
	}
	if s.apiListener != nil && s.apiServer == nil {
		_ = s.apiListener.Close()
	}
	if s.opsListener != nil && s.opsServer == nil {
		_ = s.opsListener.Close()
	}
}

// deriveKey makes independent keys for independent uses from one secret.
func deriveKey(master []byte, purpose string) []byte {
	mac := hmac.New(sha256.New, master)
	mac.Write([]byte(purpose))
	return mac.Sum(nil)
}
