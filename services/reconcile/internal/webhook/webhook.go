// Package webhook POSTs a finished run's summary (JSON) to the URL a job names. Delivery is
// best effort and bounded: a few attempts with a growing pause, retried on network errors,
// 429 and 5xx answers, given up on any other answer; it never fails the run.
package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Sender posts summaries.
type Sender struct {
	// Client sends the requests (default: a client with a 10 s timeout per attempt).
	Client *http.Client
	// Attempts is the most requests one summary gets (default 3).
	Attempts int
	// Backoff is the pause after the first failed attempt, doubled after each (default 1 s).
	Backoff time.Duration
}

// Post sends body (JSON) to url; it returns the last error when no attempt was accepted.
func (s *Sender) Post(ctx context.Context, url string, body []byte) error {
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	attempts := s.Attempts
	if attempts <= 0 {
		attempts = 3
	}
	pause := s.Backoff
	if pause <= 0 {
		pause = time.Second
	}
	var last error
	for i := range attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("webhook %s: %w (after %w)", url, ctx.Err(), last)
			case <-time.After(pause):
			}
			pause *= 2
		}
		retry, err := post(ctx, client, url, body)
		if err == nil {
			return nil
		}
		last = fmt.Errorf("webhook %s: attempt %d of %d: %w", url, i+1, attempts, err)
		if !retry {
			return last
		}
	}
	return last
}

// post makes one attempt; retry says whether another may succeed.
func post(ctx context.Context, client *http.Client, url string, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "bcosdata-reconcile")
	resp, err := client.Do(req)
	if err != nil {
		return ctx.Err() == nil, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500, fmt.Errorf("answered %s", resp.Status)
}
