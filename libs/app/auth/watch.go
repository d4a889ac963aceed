package auth

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// watched is a file parsed into a T and parsed again when its size or modification time
// changes (looked at, at most once a second, when the value is asked for). A change that does
// not parse keeps the previous value and is reported to onErr, once per change.
type watched[T any] struct {
	path  string
	parse func([]byte) (T, error)
	onErr func(path string, err error)
	onNew func(path string)

	mu      sync.Mutex
	checked time.Time
	stamp   string
	val     T
}

const watchEvery = time.Second

// watch loads path once, failing when it cannot be read or parsed.
func watch[T any](path string, parse func([]byte) (T, error), onNew func(string), onErr func(string, error)) (*watched[T], error) {
	w := &watched[T]{path: path, parse: parse, onErr: onErr, onNew: onNew}
	stamp, err := w.stat()
	if err != nil {
		return nil, err
	}
	if err := w.load(stamp); err != nil {
		return nil, err
	}
	w.checked = time.Now()
	return w, nil
}

func (w *watched[T]) stat() (string, error) {
	fi, err := os.Stat(w.path)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d:%d", fi.Size(), fi.ModTime().UnixNano()), nil
}

func (w *watched[T]) load(stamp string) error {
	data, err := os.ReadFile(w.path)
	if err != nil {
		return err
	}
	v, err := w.parse(data)
	if err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	w.val, w.stamp = v, stamp
	return nil
}

// get returns the value, re-reading the file when it changed.
func (w *watched[T]) get() T {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now := time.Now(); now.Sub(w.checked) >= watchEvery {
		w.checked = now
		stamp, err := w.stat()
		if err == nil && stamp != w.stamp {
			if err = w.load(stamp); err == nil && w.onNew != nil {
				w.onNew(w.path)
			}
			w.stamp = stamp // report a bad version once, not on every call
		}
		if err != nil && w.onErr != nil {
			w.onErr(w.path, err)
		}
	}
	return w.val
}
