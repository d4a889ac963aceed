package postgres_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bcosdata/bcosdata/libs/certtest"
	"github.com/bcosdata/bcosdata/libs/postgres"
	"github.com/bcosdata/bcosdata/libs/postgres/pglocal"
)

// TestVerifyFull starts a server with a certificate from a test CA and connects the way a
// service configured with -db.url "...?sslmode=verify-full&sslrootcert=CA" does: over TLS
// with the server's name checked, and refused when the CA is not the one that signed it.
func TestVerifyFull(t *testing.T) {
	t.Parallel()
	ca := certtest.NewCA(t, "pg")
	srv := ca.Server(t, "postgres")
	c, err := pglocal.Start(t.Context(), pglocal.Options{Fast: true, TLSCert: srv.CertFile, TLSKey: srv.KeyFile})
	if err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); !ci {
			t.Skipf("no local PostgreSQL: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })

	url := func(host, ca string) string {
		return fmt.Sprintf("postgres://postgres@%s:%d/postgres?sslmode=verify-full&sslrootcert=%s", host, c.Port(), ca)
	}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		pool, err := postgres.Connect(t.Context(), url(host, ca.CertFile))
		if err != nil {
			t.Fatalf("connect with verify-full to %s: %v", host, err)
		}
		var ssl bool
		var version string
		err = pool.QueryRow(t.Context(), "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl, &version)
		pool.Close()
		if err != nil || !ssl {
			t.Fatalf("connection to %s: ssl %v (%s), %v", host, ssl, version, err)
		}
	}

	other := certtest.NewCA(t, "other")
	pool, err := postgres.Connect(t.Context(), url("127.0.0.1", other.CertFile), postgres.WithMaxWait(time.Second))
	if err == nil {
		pool.Close()
		t.Fatal("verify-full accepted a server certificate from another CA")
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("wrong CA refused for another reason: %v", err)
	}
}
