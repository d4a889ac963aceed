package tlsfiles

import (
	"strings"
	"testing"
)

func TestValidateNamesTheFlags(t *testing.T) {
	for _, c := range []struct {
		f    Files
		want string
	}{
		{Files{Cert: "c"}, "-tls.cert and -tls.key: give both"},
		{Files{ClientCA: "ca"}, "need -tls.cert"},
		{Files{Cert: "c", Key: "k", ClientAuth: ClientAuthRequireAndVerify}, "needs -tls.client-ca"},
		{Files{Cert: "c", Key: "k", ClientAuth: "always"}, `-tls.client-auth "always"`},
		{Files{Cert: "c", Key: "k", ClientCA: "ca"}, ""},
		{Files{}, ""},
	} {
		err := c.f.Validate("tls.")
		if c.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", c.f, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.f, err, c.want)
		}
	}
}

func TestNewServerRefusesMissingFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewServer(Files{Cert: dir + "/no.pem", Key: dir + "/no.key"}, nil); err == nil || !strings.Contains(err.Error(), "no.pem") {
		t.Fatalf("error %v, want one naming the missing file", err)
	}
}
