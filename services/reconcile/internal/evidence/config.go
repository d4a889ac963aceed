// Package evidence is reconcile's evidence (存证) service: it accepts signed off-chain records
// from registered publishers (gRPC, a directory of JSON-lines files, a Kafka topic), commits
// each to PostgreSQL before acknowledging it (the database is the spool), seals them by size
// or age into batches whose records are the leaves of an RFC 6962 Merkle tree, writes each
// batch's segment to an archive (file:// or s3://), anchors the batch root on chain through
// the Evidence contract with go-sdk, and marks a batch anchored only when its EvidenceStored
// event comes back through stash → export → events.v1. It serves proofs checked before they
// are returned, runs verifications (every record anchored, every root on chain ours, every
// segment intact) and shares record events on bcos.<chain>.<group>.records.v1.
//
// Formats (record, canonical encoding, leaf, tree, segment, proof) are libs/evidence's.
package evidence

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/ethereum/go-ethereum/common"
)

// Flags are the -evidence.* options.
type Flags struct {
	// Archive is the directory URI sealed segments are written to (file:// or s3://); empty
	// turns the evidence service off.
	Archive string
	// S3Endpoint, S3Region, S3PathStyle and S3Insecure reach an S3-compatible archive;
	// credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
	S3Endpoint, S3Region    string
	S3PathStyle, S3Insecure bool
	// Inbox is a directory of JSON-lines files of records, picked up as they appear.
	Inbox string
	// MaxPayload is the largest payload accepted, in bytes.
	MaxPayload int
	// BatchSize and BatchAge seal the open batch when it holds that many records or its
	// oldest record is that old.
	BatchSize int
	BatchAge  time.Duration
	// RPC, Key and Contract anchor batch roots: a node's JSON-RPC URL, the anchoring
	// account's key file and the Evidence contract's address. Without them batches are sealed
	// and archived but not anchored.
	RPC, Key, Contract string
	// SM selects the SM crypto suite of the chain (SM2/SM3) for anchoring transactions.
	SM bool
	// Resend is how long a sent batch waits for its EvidenceStored event before it is sent
	// again (the contract refuses a second anchor; our own earlier one is recognised).
	Resend time.Duration
	// VerifyEvery runs a verification that often (0: only over the API); Grace is how long a
	// record may wait for its anchor before a verification reports it.
	VerifyEvery, Grace time.Duration
	// Sensitive lists the record categories whose payloads are personal data: sealed at rest
	// with reconcile's key ring (-crypto.keys) and left out of the archived segments.
	Sensitive app.StringList
}

// SensitiveCategory reports whether records of category have their payloads sealed.
func (f *Flags) SensitiveCategory(category string) bool {
	return slices.Contains(f.Sensitive, category)
}

// RegisterFlags adds the -evidence.* options to fs.
func (f *Flags) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&f.Archive, "evidence.archive", "", "evidence: directory URI of sealed segments (file:///dir or s3://bucket/prefix); empty turns evidence off")
	fs.StringVar(&f.S3Endpoint, "evidence.s3-endpoint", "", "evidence: host[:port] of an S3-compatible archive (default s3.amazonaws.com); keys from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY")
	fs.StringVar(&f.S3Region, "evidence.s3-region", "", "evidence: region of the S3 archive")
	fs.BoolVar(&f.S3PathStyle, "evidence.s3-path-style", false, "evidence: path-style S3 requests (MinIO)")
	fs.BoolVar(&f.S3Insecure, "evidence.s3-insecure", false, "evidence: plain HTTP to the S3 archive")
	fs.StringVar(&f.Inbox, "evidence.inbox", "", "evidence: directory of JSON-lines record files picked up as they appear (moved to processed/ when done)")
	fs.IntVar(&f.MaxPayload, "evidence.max-payload", 64<<10, "evidence: largest record payload accepted, in bytes")
	fs.IntVar(&f.BatchSize, "evidence.batch-size", 1000, "evidence: seal a batch at this many records")
	fs.DurationVar(&f.BatchAge, "evidence.batch-age", 10*time.Second, "evidence: seal a batch when its oldest record is this old")
	fs.StringVar(&f.RPC, "evidence.rpc", "", "evidence: JSON-RPC URL of a node batch roots are anchored through (empty: seal and archive only)")
	fs.StringVar(&f.Key, "evidence.key", "", "evidence: key file of the anchoring account (the JSON of bcosdata evidence keygen, or 64 hex digits)")
	fs.StringVar(&f.Contract, "evidence.contract", "", "evidence: address of the Evidence contract")
	fs.BoolVar(&f.SM, "evidence.sm", false, "evidence: the chain uses SM crypto (SM2/SM3) for transactions")
	fs.DurationVar(&f.Resend, "evidence.resend", time.Minute, "evidence: send a sent batch again when its EvidenceStored event has not arrived after this long")
	fs.DurationVar(&f.VerifyEvery, "evidence.verify-every", 0, "evidence: run a verification this often (0: over the API only)")
	fs.DurationVar(&f.Grace, "evidence.grace", 10*time.Minute, "evidence: how long a record may wait for its anchor before a verification reports it")
	fs.Var(&f.Sensitive, "evidence.sensitive-categories", "evidence: record categories whose payloads are personal data (comma separated): sealed at rest with -crypto.keys, never archived; proofs still verify")
}

// Enabled reports whether the evidence service is on.
func (f *Flags) Enabled() bool { return f.Archive != "" }

// Anchoring reports whether batch roots are anchored on chain.
func (f *Flags) Anchoring() bool { return f.RPC != "" }

// Validate reports unusable values, naming the flag.
func (f *Flags) Validate() error {
	if !f.Enabled() {
		if f.Inbox != "" || f.RPC != "" {
			return errors.New("-evidence.inbox and -evidence.rpc need -evidence.archive")
		}
		return nil
	}
	var errs []error
	if !strings.HasPrefix(f.Archive, "file://") && !strings.HasPrefix(f.Archive, "s3://") {
		errs = append(errs, fmt.Errorf("-evidence.archive %q: want file:///dir or s3://bucket/prefix", f.Archive))
	}
	if f.MaxPayload < 1 {
		errs = append(errs, fmt.Errorf("-evidence.max-payload %d: want 1 or more", f.MaxPayload))
	}
	if f.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("-evidence.batch-size %d: want 1 or more", f.BatchSize))
	}
	if f.BatchAge <= 0 {
		errs = append(errs, fmt.Errorf("-evidence.batch-age %s: want more than 0", f.BatchAge))
	}
	if f.RPC != "" {
		if f.Key == "" {
			errs = append(errs, errors.New("-evidence.rpc needs -evidence.key"))
		}
		if !common.IsHexAddress(f.Contract) {
			errs = append(errs, fmt.Errorf("-evidence.contract %q: want a 0x address", f.Contract))
		}
	}
	if f.Resend <= 0 {
		errs = append(errs, fmt.Errorf("-evidence.resend %s: want more than 0", f.Resend))
	}
	if f.VerifyEvery < 0 || f.Grace < 0 {
		errs = append(errs, errors.New("-evidence.verify-every and -evidence.grace: want 0 or more"))
	}
	return errors.Join(errs...)
}
