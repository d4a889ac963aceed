package source

import (
	"slices"
	"testing"
)

// TestAutoindexLinks checks that binlog files are found in the listing formats a node's
// BinaryLogs directory is served in, and nothing else is.
func TestAutoindexLinks(t *testing.T) {
	cases := []struct {
		name string
		page string
		want []string
	}{
		{"nginx exact size", "<html>\r\n<head><title>Index of /</title></head>\r\n<body>\r\n<h1>Index of /</h1><hr><pre><a href=\"../\">../</a>\r\n" +
			"<a href=\"0.binlog\">0.binlog</a>                                           21-Oct-2020 16:05              183368\r\n" +
			"<a href=\"18.binlog\">18.binlog</a>                                          21-Oct-2020 16:05                4123\r\n</pre><hr></body>\r\n</html>\r\n",
			[]string{"0", "18"}},
		{"go file server", "<pre>\n<a href=\"10.binlog\">10.binlog</a>\n<a href=\"9.binlog\">9.binlog</a>\n</pre>\n", []string{"10", "9"}},
		{"other files ignored", `<a href="0.binlog.ok">x</a><a href="notes.txt">y</a><a href="./7.binlog">7.binlog</a>`, []string{"7"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, m := range hrefPattern.FindAllStringSubmatch(tc.page, -1) {
				got = append(got, m[1])
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("links %v, want %v", got, tc.want)
			}
		})
	}
}

// TestParseSources checks the source URLs -source accepts.
func TestParseSources(t *testing.T) {
	cases := []struct {
		url     string
		wantErr bool
		kind    string
	}{
		{"file:///data/node0/group1/BinaryLogs", false, "*source.File"},
		{"http://node0:8546/group1/BinaryLogs/", false, "*source.HTTP"},
		{"rpc://node0:8545?group=2", false, "*source.RPC"},
		{"rpc://node0:8545?group=x", true, ""},
		{"ftp://node0/", true, ""},
		{"file://", true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			s, err := Parse(tc.url, Options{CacheDir: t.TempDir()})
			if (err != nil) != tc.wantErr {
				t.Fatalf("Parse: %v, want error %v", err, tc.wantErr)
			}
			if err == nil {
				if got := typeName(s); got != tc.kind {
					t.Errorf("Parse gave %s, want %s", got, tc.kind)
				}
				if s.Name() != tc.url {
					t.Errorf("name %q, want the URL", s.Name())
				}
			}
		})
	}
	if r, _ := Parse("rpc://node0:8545?group=2", Options{}); r.(*RPC).group != 2 || r.(*RPC).endpoint != "http://node0:8545" {
		t.Errorf("rpc source %+v", r)
	}
}

func typeName(s Source) string {
	switch s.(type) {
	case *File:
		return "*source.File"
	case *HTTP:
		return "*source.HTTP"
	case *RPC:
		return "*source.RPC"
	}
	return "?"
}
