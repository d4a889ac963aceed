package api

import (
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
	"google.golang.org/protobuf/types/known/timestamppb"

	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
	"github.com/bcosdata/bcosdata/services/export/internal/contract"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// contract returns a registered contract by name, nil when none.
func (b *Backend) contract(name string) *contract.Contract {
	for _, k := range b.Contracts {
		if k.Name == name {
			return k
		}
	}
	return nil
}

func (b *Backend) names() []string {
	out := make([]string, 0, len(b.Contracts))
	for _, k := range b.Contracts {
		out = append(out, k.Name)
	}
	return out
}

// named returns the registered contract of a name, or an InvalidArgument naming field.
func (b *Backend) named(field, name string) (*contract.Contract, error) {
	if k := b.contract(name); k != nil {
		return k, nil
	}
	return nil, invalid(field, "%q is not a registered contract (registered: %s)", name, strings.Join(b.names(), ", "))
}

// items returns the tables of k's items of the given kinds that ref names (an ABI name,
// shared by overloads, a canonical signature, or "constructor").
func items(k *contract.Contract, field, ref string, kinds ...contract.Kind) ([]*contract.Table, error) {
	var out []*contract.Table
	var have []string
	for _, t := range k.Tables {
		if !slices.Contains(kinds, t.Kind) {
			continue
		}
		have = append(have, t.Signature)
		if t.Item == ref || t.Signature == ref {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, invalid(field, "%q: %s has no such %s (has: %s)", ref, k.Name, field, strings.Join(have, ", "))
	}
	return out, nil
}

// selection is what a list or subscription of decoded rows selects: typed tables, one
// deployment's address, and parameter filters.
type selection struct {
	tables  []*contract.Table
	address []byte
	filters []filter
}

// selectDecoded resolves a request's contract, contract address, item and filters against
// the registry. itemField is "event" or "method".
func (s *Server) selectDecoded(ctx context.Context, b *Backend, name, address, itemField, item string, fs []*exportv1.ParamFilter, kinds ...contract.Kind) (*selection, error) {
	sel := &selection{}
	var k *contract.Contract
	if address != "" {
		addr, err := optAddress("contract_address", address)
		if err != nil {
			return nil, err
		}
		known, err := b.Store.Deployments(ctx, [][]byte{addr})
		if err != nil {
			return nil, storeErr(ctx, err)
		}
		if k = b.contract(known[string(addr)]); k == nil {
			return nil, invalid("contract_address", "%s: no registered contract is known at this address", hexOf(addr))
		}
		if name != "" && name != k.Name {
			return nil, invalid("contract", "%q: the contract at %s is %s", name, hexOf(addr), k.Name)
		}
		sel.address = addr
	} else if name != "" {
		var err error
		if k, err = b.named("contract", name); err != nil {
			return nil, err
		}
	}
	switch {
	case k == nil && item != "":
		return nil, invalid(itemField, "%q: give the contract (contract or contract_address) it belongs to", item)
	case k == nil:
		for _, c := range b.Contracts {
			for _, t := range c.Tables {
				if slices.Contains(kinds, t.Kind) {
					sel.tables = append(sel.tables, t)
				}
			}
		}
	case item == "":
		for _, t := range k.Tables {
			if slices.Contains(kinds, t.Kind) {
				sel.tables = append(sel.tables, t)
			}
		}
	default:
		ts, err := items(k, itemField, item, kinds...)
		if err != nil {
			return nil, err
		}
		sel.tables = ts
	}
	if len(fs) == 0 {
		return sel, nil
	}
	if len(sel.tables) != 1 {
		var sigs []string
		for _, t := range sel.tables {
			sigs = append(sigs, t.Signature)
		}
		if item == "" {
			return nil, invalid("filters", "filters on parameters need the %s (%s) they apply to", itemField, strings.Join(sigs, ", "))
		}
		return nil, invalid(itemField, "%q names %d overloads (%s): give the signature to filter on parameters", item, len(sigs), strings.Join(sigs, ", "))
	}
	for i, f := range fs {
		pf, err := newFilter(sel.tables[0], i, f)
		if err != nil {
			return nil, err
		}
		sel.filters = append(sel.filters, pf)
	}
	return sel, nil
}

// valueKind is how a parameter's values compare.
type valueKind uint8

const (
	kindInt    valueKind = iota + 1 // exact integers
	kindBytes                       // 0x hex: addresses, bytes, bytesN, topic hashes
	kindBool                        // true/false
	kindString                      // text
	kindJSON                        // arrays and tuples: equality of JSON values
)

var intType = regexp.MustCompile(`^u?int[0-9]*$`)

// kindOf is the comparison of a column's values.
func kindOf(c contract.Column) valueKind {
	switch {
	case c.Indexed && (c.ABIType == "string" || c.ABIType == "bytes" || strings.HasSuffix(c.ABIType, "]") || strings.HasPrefix(c.ABIType, "(")):
		return kindBytes // the topic hash
	case strings.HasSuffix(c.ABIType, "]") || strings.HasPrefix(c.ABIType, "("):
		return kindJSON
	case intType.MatchString(c.ABIType):
		return kindInt
	case c.ABIType == "address" || strings.HasPrefix(c.ABIType, "bytes") || c.ABIType == "function":
		return kindBytes
	case c.ABIType == "bool":
		return kindBool
	}
	return kindString
}

// filter is a checked parameter filter.
type filter struct {
	col   contract.Column
	kind  valueKind
	op    string
	num   *big.Int
	bytes []byte
	str   string
	b     bool
	json  any
}

var ops = map[exportv1.FilterOp]string{exportv1.FilterOp_FILTER_OP_UNSPECIFIED: "=", exportv1.FilterOp_FILTER_OP_EQ: "=",
	exportv1.FilterOp_FILTER_OP_NE: "<>", exportv1.FilterOp_FILTER_OP_LT: "<", exportv1.FilterOp_FILTER_OP_LE: "<=",
	exportv1.FilterOp_FILTER_OP_GT: ">", exportv1.FilterOp_FILTER_OP_GE: ">="}

// newFilter checks filter i against table t: the parameter exists, the operator suits its
// type, the value parses as its type.
func newFilter(t *contract.Table, i int, f *exportv1.ParamFilter) (filter, error) {
	field := "filters[" + strconv.Itoa(i) + "]"
	var pf filter
	var names []string
	found := false
	for _, c := range t.Columns {
		names = append(names, c.Param)
		if c.Param == f.GetParam() || c.Name == f.GetParam() {
			pf.col, found = c, true
			break
		}
	}
	if !found {
		return pf, invalid(field+".param", "%q: %s has no such parameter (has: %s)", f.GetParam(), t.Signature, strings.Join(names, ", "))
	}
	op, ok := ops[f.GetOp()]
	if !ok {
		return pf, invalid(field+".op", "%v: unknown operator", f.GetOp())
	}
	pf.op, pf.kind = op, kindOf(pf.col)
	v := f.GetValue()
	bad := func(want string) error {
		return invalid(field+".value", "%q: parameter %s is %s: want %s", v, pf.col.Param, pf.col.ABIType, want)
	}
	switch pf.kind {
	case kindInt:
		n, ok := new(big.Int).SetString(v, 10)
		if !ok {
			return pf, bad("a decimal integer")
		}
		pf.num = n
	case kindBytes:
		want, what := -1, "0x hex bytes"
		switch {
		case pf.col.ABIType == "address":
			want, what = 20, "a 0x hex address"
		case pf.col.Indexed && (pf.col.ABIType == "string" || pf.col.ABIType == "bytes" || strings.ContainsAny(pf.col.ABIType, "[(")):
			want, what = 32, "the 0x hex topic hash (an indexed "+pf.col.ABIType+" is stored as its hash)"
		}
		b, err := parseHex(field+".value", v, want, what)
		if err != nil {
			return pf, bad(what)
		}
		pf.bytes = b
	case kindBool:
		switch v {
		case "true":
			pf.b = true
		case "false":
		default:
			return pf, bad("true or false")
		}
	case kindJSON:
		d := json.NewDecoder(strings.NewReader(v))
		d.UseNumber()
		if err := d.Decode(&pf.json); err != nil {
			return pf, bad("its value as JSON")
		}
	default:
		pf.str = v
	}
	if (pf.kind == kindBool || pf.kind == kindJSON) && op != "=" && op != "<>" {
		return pf, invalid(field+".op", "%v: parameter %s is %s: only equality (eq, ne) applies", f.GetOp(), pf.col.Param, pf.col.ABIType)
	}
	return pf, nil
}

// cond is the filter as a condition on the typed table's column.
func (f filter) cond() store.Cond {
	c := store.Cond{Column: f.col.Name, Op: f.op}
	switch f.kind {
	case kindInt:
		c.Value, c.Cast = pgtype.Numeric{Int: f.num, Valid: true}, "numeric"
	case kindBytes:
		if !strings.HasPrefix(f.col.SQLType, "bytea") {
			c.Value, c.Cast = hexOf(f.bytes), "text" // addresses are stored as lowercase 0x text
		} else {
			c.Value = f.bytes
		}
	case kindBool:
		c.Value, c.Cast = f.b, "boolean"
	case kindJSON:
		b, _ := json.Marshal(f.json)
		c.Value, c.Cast = string(b), "jsonb"
	default:
		c.Value, c.Cast = f.str, "text"
	}
	return c
}

// match reports whether a decoded value (the text the bus and the API show) passes the
// filter; subscriptions filter with it, lists in SQL.
func (f filter) match(v string) bool {
	var c int
	switch f.kind {
	case kindInt:
		n, ok := new(big.Int).SetString(v, 10)
		if !ok {
			return false
		}
		c = n.Cmp(f.num)
	case kindBytes:
		b, err := parseHex("", v, -1, "")
		if err != nil {
			return false
		}
		c = bytes.Compare(b, f.bytes)
	case kindBool:
		if (v == "true") == f.b {
			c = 0
		} else {
			c = 1
		}
	case kindJSON:
		var x any
		d := json.NewDecoder(strings.NewReader(v))
		d.UseNumber()
		if d.Decode(&x) != nil {
			return false
		}
		a, _ := json.Marshal(x)
		b, _ := json.Marshal(f.json)
		if string(a) != string(b) {
			c = 1
		}
	default:
		c = strings.Compare(v, f.str)
	}
	switch f.op {
	case "=":
		return c == 0
	case "<>":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	}
	return c >= 0
}

func (sel *selection) query(sp store.Span) store.TypedQuery {
	q := store.TypedQuery{Tables: sel.tables, Address: sel.address, Span: sp}
	for _, f := range sel.filters {
		q.Conds = append(q.Conds, f.cond())
	}
	return q
}

// paramOf is a parameter column's value as the API shows it.
func paramOf(c contract.Column, v *string) *exportv1.Param {
	p := &exportv1.Param{Name: c.Param, Type: c.ABIType, Indexed: c.Indexed}
	switch {
	case v == nil:
		p.Null = true
	case strings.HasPrefix(c.SQLType, "json"):
		var buf bytes.Buffer
		if json.Compact(&buf, []byte(*v)) == nil {
			p.Value = buf.String()
		} else {
			p.Value = *v
		}
	default:
		p.Value = *v
	}
	return p
}

func eventOf(r store.DecodedRow) *exportv1.Event {
	e := &exportv1.Event{BlockNumber: r.BlockNumber, BlockTime: timestamppb.New(r.BlockTime), TransactionHash: hexOf(r.TxHash),
		TransactionIndex: r.TxIndex, LogIndex: r.LogIndex, ContractAddress: hexOf(r.ContractAddress), ContractName: r.Table.Contract,
		EventName: r.Table.Item, EventSignature: r.Table.Signature, Table: r.Table.Name}
	for i, c := range r.Table.Columns {
		e.Params = append(e.Params, paramOf(c, r.Values[i]))
	}
	return e
}

func callOf(r store.DecodedRow) *exportv1.Call {
	c := &exportv1.Call{BlockNumber: r.BlockNumber, BlockTime: timestamppb.New(r.BlockTime), TransactionHash: hexOf(r.TxHash),
		TransactionIndex: r.TxIndex, From: hexOf(r.From), ContractAddress: hexOf(r.ContractAddress), ContractName: r.Table.Contract,
		MethodName: r.Table.Item, MethodSignature: r.Table.Signature, Status: r.Status, Deploy: r.Table.Kind == contract.ConstructorTable,
		Table: r.Table.Name}
	for i, col := range r.Table.Columns {
		if col.Output {
			c.Outputs = append(c.Outputs, paramOf(col, r.Values[i]))
		} else {
			c.Inputs = append(c.Inputs, paramOf(col, r.Values[i]))
		}
	}
	return c
}

// ListEvents pages decoded events.
func (s *Server) ListEvents(ctx context.Context, req *exportv1.ListEventsRequest) (*exportv1.ListEventsResponse, error) {
	b := s.backend()
	if b == nil {
		return nil, errNotOpen
	}
	sp, err := span(req.FromBlock, req.ToBlock, req.GetFromTime(), req.GetToTime())
	if err != nil {
		return nil, err
	}
	p, q, err := paging(req)
	if err != nil {
		return nil, err
	}
	sel, err := s.selectDecoded(ctx, b, req.GetContract(), req.GetContractAddress(), "event", req.GetEvent(), req.GetFilters(), contract.EventTable)
	if err != nil {
		return nil, err
	}
	rows, total, err := b.Store.Decoded(ctx, sel.query(sp), p)
	if err != nil {
		return nil, storeErr(ctx, err)
	}
	resp := &exportv1.ListEventsResponse{TotalSize: total}
	for _, r := range rows {
		resp.Events = append(resp.Events, eventOf(r))
	}
	if len(rows) > 0 {
		last := rows[len(rows)-1]
		resp.NextPageToken = next(len(rows), p.Limit, store.Key{Block: last.BlockNumber, Tx: last.TxIndex, Log: last.LogIndex}, q)
	}
	return resp, nil
}

// ListCalls pages decoded calls and constructors.
func (s *Server) ListCalls(ctx context.Context, req *exportv1.ListCallsRequest) (*exportv1.ListCallsResponse, error) {
	b := s.backend()
	if b == nil {
		return nil, errNotOpen
	}
	sp, err := span(req.FromBlock, req.ToBlock, req.GetFromTime(), req.GetToTime())
	if err != nil {
		return nil, err
	}
	from, err := optAddress("from", req.GetFrom())
	if err != nil {
		return nil, err
	}
	p, q, err := paging(req)
	if err != nil {
		return nil, err
	}
	sel, err := s.selectDecoded(ctx, b, req.GetContract(), req.GetContractAddress(), "method", req.GetMethod(), req.GetFilters(),
		contract.MethodTable, contract.ConstructorTable)
	if err != nil {
		return nil, err
	}
	tq := sel.query(sp)
	tq.From, tq.Status = from, req.Status
	rows, total, err := b.Store.Decoded(ctx, tq, p)
	if err != nil {
		return nil, storeErr(ctx, err)
	}
	resp := &exportv1.ListCallsResponse{TotalSize: total}
	for _, r := range rows {
		resp.Calls = append(resp.Calls, callOf(r))
	}
	if len(rows) > 0 {
		last := rows[len(rows)-1]
		resp.NextPageToken = next(len(rows), p.Limit, store.Key{Block: last.BlockNumber, Tx: last.TxIndex}, q)
	}
	return resp, nil
}
