// Package binlogsrv serves a node's BinaryLogs directory over HTTP the way the nginx in front
// of real nodes does for Data-Stash (`autoindex on; autoindex_exact_size on;`): the directory
// page is nginx's HTML autoindex byte for byte (CRLF lines, names padded to 50 columns, date,
// exact size right-aligned in 19), and files are served with HTTP Range support (206 partial
// content, 416 past the end), which is how Data-Stash resumes downloads.
package binlogsrv

import (
	"fmt"
	"html"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// nameWidth is NGX_HTTP_AUTOINDEX_NAME_LEN.
const nameWidth = 50

// Config configures the handler.
type Config struct {
	// Dir is the directory served (a node's <data>/group<N>/BinaryLogs).
	Dir string
	// Location is the time zone of the listing's dates (nginx autoindex_localtime); nil
	// means UTC, nginx's default.
	Location *time.Location
	// Delay is added before every response (fault injection: a slow server).
	Delay time.Duration
}

// Handler serves the directory.
type Handler struct{ cfg Config }

// NewHandler returns the handler.
func NewHandler(cfg Config) *Handler {
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	return &Handler{cfg: cfg}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if h.cfg.Delay > 0 {
		t := time.NewTimer(h.cfg.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if r.URL.Path == "/" {
		h.index(w, r)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/")
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(filepath.Join(h.cfg.Dir, name))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	// ServeContent answers Range requests (206 with Content-Range, 416 when the start is at
	// or past the size) and HEAD, with the size taken when the request arrives: a file that
	// grows later is simply longer on the next request.
	http.ServeContent(w, r, name, st.ModTime(), f)
}

func (h *Handler) index(w http.ResponseWriter, r *http.Request) {
	ents, err := os.ReadDir(h.cfg.Dir)
	if err != nil {
		http.Error(w, "cannot list directory", http.StatusInternalServerError)
		return
	}
	var list []Entry
	for _, de := range ents {
		if strings.HasPrefix(de.Name(), ".") {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue // removed since the directory was read
		}
		list = append(list, Entry{Name: de.Name(), Dir: de.IsDir(), MTime: info.ModTime(), Size: info.Size()})
	}
	w.Header().Set("Content-Type", "text/html")
	_, _ = w.Write(Listing(r.URL.Path, list, h.cfg.Location))
}

// Entry is one line of a listing.
type Entry struct {
	Name  string
	Dir   bool
	MTime time.Time
	Size  int64
}

// Listing renders nginx's HTML autoindex page for uri: directories first, then names in byte
// order, each line `<a href="name">name</a>`, padding to column 50, a space, the date
// "02-Jan-2006 15:04" in loc, a space and the exact size right-aligned in 19 columns.
func Listing(uri string, entries []Entry, loc *time.Location) []byte {
	sorted := append([]Entry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].Dir != sorted[j].Dir {
			return sorted[i].Dir
		}
		return sorted[i].Name < sorted[j].Name
	})
	var b strings.Builder
	fmt.Fprintf(&b, "<html>\r\n<head><title>Index of %s</title></head>\r\n<body>\r\n<h1>Index of %s</h1>", uri, uri)
	b.WriteString("<hr><pre><a href=\"../\">../</a>\r\n")
	for _, e := range sorted {
		href := html.EscapeString(e.Name)
		label := e.Name
		if e.Dir {
			href += "/"
		}
		n := utf8.RuneCountInString(label)
		fmt.Fprintf(&b, "<a href=\"%s\">", href)
		switch {
		case n > nameWidth:
			b.WriteString(html.EscapeString(string([]rune(label)[:nameWidth-3])))
			b.WriteString("..&gt;</a>")
		default:
			b.WriteString(html.EscapeString(label))
			if e.Dir && n < nameWidth {
				b.WriteByte('/')
				n++
			}
			b.WriteString("</a>")
			b.WriteString(strings.Repeat(" ", nameWidth-n))
		}
		b.WriteByte(' ')
		b.WriteString(e.MTime.In(loc).Format("02-Jan-2006 15:04"))
		b.WriteByte(' ')
		if e.Dir {
			b.WriteString("                  -")
		} else {
			fmt.Fprintf(&b, "%19d", e.Size)
		}
		b.WriteString("\r\n")
	}
	b.WriteString("</pre><hr></body>\r\n</html>\r\n")
	return []byte(b.String())
}
