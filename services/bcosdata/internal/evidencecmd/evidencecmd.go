// Package evidencecmd implements `bcosdata evidence ...`: verify a proof against a node, and the
// keygen and sign helpers a demo user needs to publish records by hand. Each command is a
// function of its arguments and output streams, so the binary's table calls it and tests run it
// without a process.
package evidencecmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/evidence"
	"github.com/bcosdata/bcosdata/libs/evidence/chain"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

// ErrVerifyFailed is returned (wrapped, with the failed check) when a proof does not verify;
// the binary exits 1.
var ErrVerifyFailed = errors.New("proof rejected")

// flagSet returns a FlagSet that reports errors instead of exiting, with a usage text and the
// -version flag every command answers.
func flagSet(name, synopsis, about string, stderr io.Writer) (*flag.FlagSet, *bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\n%s\n\nFlags:\n", synopsis, about)
		fs.PrintDefaults()
	}
	return fs, fs.Bool("version", false, "print the version and exit")
}

// parse parses args, flags before or after positional arguments. It returns done=true when
// -version was printed.
func parse(fs *flag.FlagSet, version *bool, args []string, stdout io.Writer) (pos []string, done bool, err error) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, true, err
			}
			return nil, true, &app.UsageError{Err: err}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if *version {
		_, err := fmt.Fprintln(stdout, app.VersionString("bcosdata"))
		return nil, true, err
	}
	return pos, false, nil
}

const verifyAbout = `Check an evidence proof (the JSON GetProof returns; format in docs/evidence.md) without
trusting its issuer: offline, the record's fields and payload hash, the publisher's signature,
the leaf hash, the batch id and the inclusion path up to the batch root; then, against the
node's JSON-RPC, that the anchor transaction's receipt succeeded, that its log at the anchor's
log index is the Evidence contract's EvidenceStored for this batch id and root, and that the
anchor block is on the node's chain. Each passed check is printed; the first failure is named
and the exit status is 1. The chain's crypto suite is SM when -sm is given or the publisher's
key is an SM key.`

// Verify implements `bcosdata evidence verify [-rpc URL] [-group N] [-sm] [-offline] PROOF.json`.
func Verify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, version := flagSet("evidence verify", "bcosdata evidence verify -rpc URL [-group N] [-sm] PROOF.json", verifyAbout, stderr)
	rpc := fs.String("rpc", os.Getenv("BCOSDATA_RPC"), "node JSON-RPC URL, http://host:port ($BCOSDATA_RPC)")
	group := fs.Int("group", 1, "group id of the chain")
	sm := fs.Bool("sm", false, "the chain uses SM3/SM2 (national crypto)")
	offline := fs.Bool("offline", false, "run only the offline checks (no -rpc needed)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up on the node after this long")
	pos, done, err := parse(fs, version, args, stdout)
	if done {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return &app.UsageError{Err: fmt.Errorf("evidence verify takes one PROOF.json, got %d arguments", len(pos))}
	}
	if *rpc == "" && !*offline {
		return &app.UsageError{Err: errors.New("evidence verify: -rpc URL is required (or -offline)")}
	}
	raw, err := os.ReadFile(pos[0])
	if err != nil {
		return fmt.Errorf("evidence verify: %w", err)
	}
	var p evidence.Proof
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("evidence verify %s: check %q failed: %w: %w", pos[0], evidence.CheckFormat, ErrVerifyFailed, err)
	}
	fmt.Fprintf(stdout, "proof %s: record %q, leaf %d of %d, segment %s\n", pos[0], p.Record.ID, p.LeafIndex, p.TreeSize, p.Segment)
	report := func(check, detail string) { fmt.Fprintf(stdout, "ok    %-20s %s\n", check, detail) }

	if *offline {
		err = p.VerifyOfflineReport(report)
	} else {
		suite := cryptosuite.ECDSA()
		if *sm || p.Publisher.Suite == cryptosuite.NameSM {
			suite = cryptosuite.SM()
		}
		var node *chain.Node
		node, err = chain.Dial(*rpc, *group, suite)
		if err != nil {
			return fmt.Errorf("evidence verify: %w", err)
		}
		defer node.Close()
		cctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		err = chain.VerifyOnChainReport(cctx, node, &p, report)
	}
	if err != nil {
		var ce *evidence.CheckError
		if errors.As(err, &ce) {
			fmt.Fprintf(stdout, "FAIL  %-20s %v\n", ce.Check, ce.Err)
			return fmt.Errorf("evidence verify %s: check %q failed: %w: %w", pos[0], ce.Check, ErrVerifyFailed, ce.Err)
		}
		return fmt.Errorf("evidence verify %s: %w", pos[0], err)
	}
	if *offline {
		fmt.Fprintf(stdout, "verified offline: record %q is leaf %d of batch %s (anchor not checked)\n", p.Record.ID, p.LeafIndex, common.Hash(p.BatchID).Hex())
		return nil
	}
	fmt.Fprintf(stdout, "verified: record %q is in batch %s, anchored in block %d by transaction %s\n",
		p.Record.ID, common.Hash(p.BatchID).Hex(), p.Anchor.BlockNumber, p.Anchor.TxHash.Hex())
	return nil
}

// keyFile is the JSON key file keygen writes and sign reads.
const keygenAbout = `Generate a publisher (or anchor) key and write it as JSON {"suite","private_key",
"public_key","address"} to -out (mode 0600) or stdout. Register the public key (or address)
as a publisher; keep the file secret.`

// Keygen implements `bcosdata evidence keygen [-sm] [-out FILE]`.
func Keygen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs, version := flagSet("evidence keygen", "bcosdata evidence keygen [-sm] [-out FILE]", keygenAbout, stderr)
	sm := fs.Bool("sm", false, "generate an SM2 key (national-crypto chains) instead of secp256k1")
	out := fs.String("out", "", "write the key file here (refuses to overwrite) instead of stdout")
	pos, done, err := parse(fs, version, args, stdout)
	if done {
		return err
	}
	if len(pos) != 0 {
		return &app.UsageError{Err: fmt.Errorf("evidence keygen takes no arguments, got %q", pos)}
	}
	s := cryptosuite.ECDSA()
	if *sm {
		s = cryptosuite.SM()
	}
	k, err := s.GenerateKey(nil)
	if err != nil {
		return fmt.Errorf("evidence keygen: %w", err)
	}
	b, err := json.MarshalIndent(evidence.NewKeyFile(s, k), "", "  ")
	if err != nil {
		return fmt.Errorf("evidence keygen: %w", err)
	}
	b = append(b, '\n')
	if *out == "" {
		_, err := stdout.Write(b)
		return err
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("evidence keygen: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("evidence keygen: write %s: %w", *out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("evidence keygen: write %s: %w", *out, err)
	}
	fmt.Fprintf(stdout, "%s key written to %s\npublic key 0x%s\naddress    %s\n", s.Name(), *out, k.PublicKey(), s.Address(k.PublicKey()).Hex())
	return nil
}

const signAbout = `Sign a record with a key file and print the signed record JSON (format in
docs/evidence.md). RECORD.json holds the record's fields; its payload is given as 0x hex in
"payload" or read from -payload FILE, and payload_hash is computed from it. Missing kind and
payload_type default to publish and json. The signature is over the canonical encoding.`

// Sign implements `bcosdata evidence sign -key FILE [-payload FILE] RECORD.json`.
func Sign(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs, version := flagSet("evidence sign", "bcosdata evidence sign -key FILE [-payload FILE] RECORD.json", signAbout, stderr)
	keyPath := fs.String("key", "", "key file written by `evidence keygen` (or 64 hex digits)")
	suiteName := fs.String("crypto", cryptosuite.NameECDSA, "crypto suite of a hex key file: ecdsa or sm")
	payloadPath := fs.String("payload", "", "read the payload from this file instead of the record's \"payload\"")
	pos, done, err := parse(fs, version, args, stdout)
	if done {
		return err
	}
	if len(pos) != 1 || *keyPath == "" {
		fs.Usage()
		return &app.UsageError{Err: errors.New("evidence sign takes -key FILE and one RECORD.json")}
	}
	s, k, err := evidence.ReadKeyFile(*keyPath, *suiteName)
	if err != nil {
		return fmt.Errorf("evidence sign: %w", err)
	}
	raw, err := os.ReadFile(pos[0])
	if err != nil {
		return fmt.Errorf("evidence sign: %w", err)
	}
	var r evidence.Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("evidence sign %s: %w", pos[0], err)
	}
	if *payloadPath != "" {
		pl, err := os.ReadFile(*payloadPath)
		if err != nil {
			return fmt.Errorf("evidence sign: %w", err)
		}
		r.Payload = pl
	}
	if r.Kind == "" {
		r.Kind = evidence.KindPublish
	}
	if r.PayloadType == "" {
		r.PayloadType = evidence.PayloadJSON
	}
	if r.Payload == nil {
		return &app.UsageError{Err: fmt.Errorf("evidence sign %s: no payload (give \"payload\" as 0x hex or -payload FILE)", pos[0])}
	}
	r.SetPayload(r.PayloadType, r.Payload)
	if err := evidence.Sign(s, k, &r); err != nil {
		return fmt.Errorf("evidence sign %s: %w", pos[0], err)
	}
	out, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("evidence sign: %w", err)
	}
	_, err = stdout.Write(append(out, '\n'))
	return err
}
