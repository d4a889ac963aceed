package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestServerAnswersACallWithoutFlowControlPings speaks HTTP/2 to the server by hand, makes
// one health check, and reads every frame until the call's trailers: the server announces
// the fixed stream window and sends no PING. With estimated windows (grpc-go's default) the
// server sends a PING on the first DATA frame of every quiet connection, and again after each
// acknowledgement: one exchange per call for a steady trickle of small calls.
func TestServerAnswersACallWithoutFlowControlPings(t *testing.T) {
	srv := NewServer(ServerConfig{Name: "test.v1.Svc", GRPCAddr: "127.0.0.1:0"}, zap.NewNop())
	ctx, cancel := context.WithCancel(t.Context())
	_, done := serveForTest(t, ctx, srv, &blockingService{name: "test.v1.Blocking", log: &eventLog{}})
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	conn, err := net.Dial("tcp", srv.GRPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var hdr bytes.Buffer
	enc := hpack.NewEncoder(&hdr)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "test"},
		{":path", "/grpc.health.v1.Health/Check"}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			t.Fatal(err)
		}
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hdr.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	// An empty HealthCheckRequest: the gRPC message prefix alone (not compressed, length 0).
	msg := make([]byte, 5)
	binary.BigEndian.PutUint32(msg[1:], 0)
	if err := fr.WriteData(1, true, msg); err != nil {
		t.Fatal(err)
	}

	var window uint32
	var announced, pings int
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("read a frame before the call's trailers: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				continue
			}
			if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
				window, announced = v, announced+1
			}
			if err := fr.WriteSettingsAck(); err != nil {
				t.Fatal(err)
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				pings++
				if err := fr.WritePing(true, f.Data); err != nil {
					t.Fatal(err)
				}
			}
		case *http2.GoAwayFrame:
			t.Fatalf("server sent GOAWAY: %v", f.ErrCode)
		}
		if f.Header().StreamID == 1 && f.Header().Flags.Has(http2.FlagHeadersEndStream) {
			if _, ok := f.(*http2.HeadersFrame); ok {
				break
			}
		}
	}
	if announced == 0 || window != StreamWindowBytes {
		t.Errorf("the server's initial stream window is %d (announced %d times), want %d", window, announced, StreamWindowBytes)
	}
	if pings != 0 {
		t.Errorf("the server sent %d PING frames during one call; with fixed windows it sends none", pings)
	}
}
