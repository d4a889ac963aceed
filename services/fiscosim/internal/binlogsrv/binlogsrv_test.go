package binlogsrv

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestListingIsNginxAutoindex compares the page with nginx's autoindex output for the same
// directory, byte for byte (CRLF lines, 50-column names, exact sizes right-aligned in 19).
func TestListingIsNginxAutoindex(t *testing.T) {
	mt := time.Date(2020, 10, 21, 16, 5, 0, 0, time.UTC)
	got := string(Listing("/", []Entry{
		{Name: "18.binlog", MTime: mt, Size: 5879},
		{Name: "0.binlog", MTime: mt, Size: 183368},
		{Name: "sub", Dir: true, MTime: mt},
	}, time.UTC))
	want := "<html>\r\n<head><title>Index of /</title></head>\r\n<body>\r\n<h1>Index of /</h1><hr><pre><a href=\"../\">../</a>\r\n" +
		"<a href=\"sub/\">sub/</a>" + strings.Repeat(" ", 46) + " 21-Oct-2020 16:05                   -\r\n" +
		"<a href=\"0.binlog\">0.binlog</a>" + strings.Repeat(" ", 42) + " 21-Oct-2020 16:05              183368\r\n" +
		"<a href=\"18.binlog\">18.binlog</a>" + strings.Repeat(" ", 41) + " 21-Oct-2020 16:05                5879\r\n" +
		"</pre><hr></body>\r\n</html>\r\n"
	if got != want {
		t.Fatalf("listing:\n%q\nwant:\n%q", got, want)
	}
}

// TestServesFilesWithRange checks downloads, Range (206/416) and that nothing outside the
// directory is served.
func TestServesFilesWithRange(t *testing.T) {
	dir := t.TempDir()
	data := []byte("0123456789abcdef")
	if err := os.WriteFile(filepath.Join(dir, "0.binlog"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(Config{Dir: dir}))
	defer srv.Close()
	cases := []struct {
		path, rng string
		code      int
		body      string
	}{
		{"/0.binlog", "", 200, string(data)},
		{"/0.binlog", "bytes=4-", 206, string(data[4:])},
		{"/0.binlog", "bytes=16-", 416, ""},
		{"/../0.binlog", "", 404, ""},
		{"/missing.binlog", "", 404, ""},
	}
	for _, tc := range cases {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+tc.path, nil)
		if tc.rng != "" {
			req.Header.Set("Range", tc.rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || (tc.body != "" && string(body) != tc.body) {
			t.Errorf("%s %s: %d %q", tc.path, tc.rng, resp.StatusCode, body)
		}
	}
}
