package dashboard

import (
	"encoding/json"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
)

// The foundation SDK ships no query type for Grafana's PostgreSQL datasource; SQLQuery is
// one, defined the way the SDK documents for plugins it lacks ("custom query type"), so the
// panels are still built and read back through the SDK's types.

// PostgresType is the plugin id of Grafana's core PostgreSQL datasource (Grafana 10.2 and
// later; earlier versions called it "postgres").
const PostgresType = "grafana-postgresql-datasource"

// SQL result formats of the PostgreSQL datasource.
const (
	FormatTimeSeries = "time_series"
	FormatTable      = "table"
)

// SQLQuery is a raw SQL query of the PostgreSQL datasource, with Grafana's macros
// ($__timeFilter, $__timeGroupAlias) in RawSQL.
type SQLQuery struct {
	RefID      string                `json:"refId"`
	Hide       *bool                 `json:"hide,omitempty"`
	Datasource *common.DataSourceRef `json:"datasource,omitempty"`
	EditorMode string                `json:"editorMode,omitempty"`
	Format     string                `json:"format,omitempty"`
	RawQuery   bool                  `json:"rawQuery,omitempty"`
	RawSQL     string                `json:"rawSql"`
}

// ImplementsDataqueryVariant marks SQLQuery as a dataquery for cog.
func (SQLQuery) ImplementsDataqueryVariant() {}

// DataqueryType is the datasource plugin id.
func (SQLQuery) DataqueryType() string { return PostgresType }

// Validate accepts every SQLQuery: the SQL is checked against PostgreSQL by the tests.
func (SQLQuery) Validate() error { return nil }

// Equals compares two queries field by field.
func (q SQLQuery) Equals(other variants.Dataquery) bool {
	o, ok := other.(SQLQuery)
	if !ok {
		return false
	}
	same := func(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	dsSame := (q.Datasource == nil) == (o.Datasource == nil) &&
		(q.Datasource == nil || same(q.Datasource.Type, o.Datasource.Type) && same(q.Datasource.Uid, o.Datasource.Uid))
	hideSame := (q.Hide == nil) == (o.Hide == nil) && (q.Hide == nil || *q.Hide == *o.Hide)
	return q.RefID == o.RefID && hideSame && dsSame && q.EditorMode == o.EditorMode && q.Format == o.Format &&
		q.RawQuery == o.RawQuery && q.RawSQL == o.RawSQL
}

// SQLQueryVariant tells cog how to read SQLQuery back from JSON (see RegisterSQLQuery).
func SQLQueryVariant() variants.DataqueryConfig {
	return variants.DataqueryConfig{
		Identifier: PostgresType,
		DataqueryUnmarshaler: func(raw []byte) (variants.Dataquery, error) {
			var q SQLQuery
			if err := json.Unmarshal(raw, &q); err != nil {
				return nil, err
			}
			return q, nil
		},
	}
}

// RegisterSQLQuery registers SQLQuery with the SDK's runtime, so that unmarshalling a
// dashboard gives SQLQuery targets for PostgreSQL panels. Only reading dashboards back needs
// it; registering twice is harmless.
func RegisterSQLQuery() { cog.NewRuntime().RegisterDataqueryVariant(SQLQueryVariant()) }

// sqlQueryBuilder builds an SQLQuery for a panel.
type sqlQueryBuilder struct{ q SQLQuery }

var _ cog.Builder[variants.Dataquery] = (*sqlQueryBuilder)(nil)

// newSQL returns a builder of a raw SQL query on the PostgreSQL datasource in format.
func newSQL(refID, format, sql string) *sqlQueryBuilder {
	ds := postgresRef()
	return &sqlQueryBuilder{q: SQLQuery{RefID: refID, Datasource: &ds, EditorMode: "code", Format: format, RawQuery: true, RawSQL: sql}}
}

// Build returns the query.
func (b *sqlQueryBuilder) Build() (variants.Dataquery, error) { return b.q, nil }
