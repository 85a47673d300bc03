package pki

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// File modes: a private key is readable by its owner only.
const (
	CertFileMode os.FileMode = 0o644
	KeyFileMode  os.FileMode = 0o600
)

// Files are the paths of a certificate and its key on disk.
type Files struct {
	CertFile string
	KeyFile  string
}

// WriteFiles writes <prefix>.crt (mode 0644) and <prefix>.key (mode 0600)
// into dir and returns their paths. Each file replaces any existing one
// atomically (a temporary file in dir, then a rename), as a secrets sidecar
// does, so a reader sees the old or the new file and never a partial one.
// The two files are replaced one after the other, certificate first.
func (c *Cert) WriteFiles(dir, prefix string) (Files, error) {
	files := Files{
		CertFile: filepath.Join(dir, prefix+".crt"),
		KeyFile:  filepath.Join(dir, prefix+".key"),
	}
	if err := writeFileAtomic(files.CertFile, c.CertPEM, CertFileMode); err != nil {
		return Files{}, err
	}
	if err := writeFileAtomic(files.KeyFile, c.KeyPEM, KeyFileMode); err != nil {
		return Files{}, err
	}
	return files, nil
}

// Write is WriteFiles for tests: it stops the test on failure.
func (c *Cert) Write(t testing.TB, dir, prefix string) Files {
	t.Helper()
	files, err := c.WriteFiles(dir, prefix)
	if err != nil {
		t.Fatalf("pki: %v", err)
	}
	return files
}

// WriteBundle writes the CA certificates as one PEM bundle to path (mode
// 0644), replacing any existing file atomically like WriteFiles.
func WriteBundle(path string, cas ...*CA) error {
	if len(cas) == 0 {
		return fmt.Errorf("write CA bundle %q: no CA given", path)
	}
	return writeFileAtomic(path, Bundle(cas...), CertFileMode)
}

// writeFileAtomic writes data to a temporary file next to path and renames
// it over path. The rename is atomic on POSIX file systems when both names
// are in one directory.
func writeFileAtomic(path string, data []byte, mode os.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name()) // best effort: the write already failed
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %q: set mode %o: %w", path, mode, err)
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %q: rename temporary file: %w", path, err)
	}
	return nil
}
