package tlsconfig

import (
	"encoding/hex"
	"time"

	"go.uber.org/zap"
)

// Reload reads the three files and, when their contents differ from the
// loaded material, parses them and replaces the material for new
// handshakes. Established connections, and handshakes already past their
// ClientHello, keep the material they started with. During a client CA
// rotation, clients therefore switch to certificates of the new CA only
// after the bundle with both CAs has been loaded and in-flight handshakes
// have finished.
//
// A file that is missing or invalid leaves the loaded material in place,
// and Reload logs the error once per distinct file contents and returns
// it. A successful load logs the new server certificate's serial, subject
// and NotAfter and reports both expiry times to Hooks. Reload is safe for
// concurrent use, and the poller calls it every ReloadInterval.
//
// The poller reads and hashes the files on every tick rather than first
// comparing modification time and size. A rewrite of the same size within
// the file system's timestamp granularity would go unseen by that check,
// and reading three files of a few kilobytes costs little.
func (s *Server) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()

	contents, err := s.files.read()
	attempt := ""
	if err != nil {
		attempt = "read error: " + err.Error()
	} else {
		if contents.digest == s.current.Load().digest {
			clear(contents.key)
			s.lastAttempt, s.lastErr = "", nil
			return nil
		}
		attempt = hex.EncodeToString(contents.digest[:])
	}
	if attempt == s.lastAttempt {
		clear(contents.key)
		return s.lastErr
	}

	var m *material
	if err == nil {
		m, err = s.parse(contents)
	}
	s.lastAttempt, s.lastErr = attempt, err
	if err != nil {
		s.logger.Error("TLS material reload failed: still serving the certificate and client CAs loaded before",
			zap.Error(err))
		return err
	}

	s.current.Store(m)
	s.reportLoaded("TLS material reloaded", m)
	return nil
}

// reportLoaded logs a loaded material and passes its expiry times to Hooks.
func (s *Server) reportLoaded(message string, m *material) {
	s.logger.Info(message,
		zap.String("server_certificate_serial", serialText(m.leaf)),
		zap.String("server_certificate_subject", m.leaf.Subject.String()),
		zap.Time("server_certificate_not_after", m.leaf.NotAfter),
		zap.Int("client_ca_count", m.caCount),
		zap.Time("client_ca_not_after", m.caNotAfter),
	)
	if time.Now().After(m.caNotAfter) {
		s.logger.Warn("client CA file contains an expired CA certificate: client certificates it issued are rejected",
			zap.String("client_ca_file", s.files.clientCA),
			zap.Time("client_ca_not_after", m.caNotAfter))
	}
	s.hooks.CertificateLoaded(CertificateServer, m.leaf.NotAfter)
	s.hooks.CertificateLoaded(CertificateClientCA, m.caNotAfter)
}

// poll calls Reload every interval until Close.
func (s *Server) poll(interval time.Duration) {
	defer close(s.done)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-ticker.C:
			_ = s.Reload() // Reload logs its own errors.
		}
	}
}
