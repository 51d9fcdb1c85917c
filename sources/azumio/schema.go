package azumio

import (
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
)

// Stream names.
const (
	streamCheckins  = "azumio.checkins."  // + type
	streamFragments = "azumio.fragments." // + fragment name
	streamProfile   = "azumio.profile"
)

var (
	tsUTC     = &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
	utf8      = arrow.BinaryTypes.String
	fragsType = arrow.ListOf(arrow.StructOf(
		arrow.Field{Name: "name", Type: utf8},
		arrow.Field{Name: "id", Type: utf8},
	))
)

// unitMeta is the field metadata naming a unit of measure.
func unitMeta(u string) arrow.Metadata { return arrow.NewMetadata([]string{"unit"}, []string{u}) }

// commonFields are the columns of every check-in stream, in order: provenance
// first, then the documented fields every type has.
var commonFields = []arrow.Field{
	{Name: "user_id", Type: utf8},
	{Name: "id", Type: utf8},
	{Name: "version", Type: arrow.PrimitiveTypes.Int64},
	{Name: "type", Type: utf8},
	{Name: "deleted", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "modified", Type: tsUTC},
	{Name: "created", Type: tsUTC, Nullable: true},
	{Name: "timestamp", Type: tsUTC, Nullable: true},
	{Name: "start", Type: tsUTC, Nullable: true},
	{Name: "end", Type: tsUTC, Nullable: true},
	{Name: "timezone", Type: arrow.PrimitiveTypes.Float64, Nullable: true, Metadata: unitMeta("h")},
	{Name: "remoteid", Type: utf8, Nullable: true},
	{Name: "client_id", Type: utf8, Nullable: true},
	{Name: "live", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "privacy", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "privacy_groups", Type: arrow.ListOf(utf8), Nullable: true},
	{Name: "value", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
}

// stepsFields are the measures the contract documents for steps check-ins, with
// the units it states (the calories are kilocalories, not SI).
var stepsFields = []arrow.Field{
	{Name: "steps", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "distance", Type: arrow.PrimitiveTypes.Float64, Nullable: true, Metadata: unitMeta("m")},
	{Name: "activeDuration", Type: arrow.PrimitiveTypes.Float64, Nullable: true, Metadata: unitMeta("s")},
	{Name: "calories", Type: arrow.PrimitiveTypes.Float64, Nullable: true, Metadata: unitMeta("kcal")},
	{Name: "walkCalories", Type: arrow.PrimitiveTypes.Float64, Nullable: true, Metadata: unitMeta("kcal")},
	{Name: "basalCalories", Type: arrow.PrimitiveTypes.Float64, Nullable: true, Metadata: unitMeta("kcal")},
}

// tailFields end every check-in stream: the fragments the check-in has (name
// without '#', and id as text) and the members no column holds, as a JSON object.
var tailFields = []arrow.Field{
	{Name: "fragments", Type: fragsType, Nullable: true},
	{Name: extraColumn, Type: utf8, Nullable: true},
}

// extraColumn holds, as a JSON object, the members of a record that no typed
// column holds, so that nothing the API sends is lost.
const extraColumn = "_extra"

var (
	schemaMu    sync.Mutex
	schemaCache = map[string]*arrow.Schema{}
)

// typedFields reports whether check-ins of typ have columns beyond the common
// ones. Only steps has documented fields of its own; every other type, known or
// not, has the generic schema.
func typedFields(typ string) []arrow.Field {
	if typ == "steps" {
		return stepsFields
	}
	return nil
}

// checkinSchema returns the schema of stream azumio.checkins.<typ>. Its metadata
// names the type.
func checkinSchema(typ string) *arrow.Schema {
	schemaMu.Lock()
	defer schemaMu.Unlock()
	if s, ok := schemaCache[typ]; ok {
		return s
	}
	fields := append([]arrow.Field(nil), commonFields...)
	fields = append(fields, typedFields(typ)...)
	fields = append(fields, tailFields...)
	md := arrow.NewMetadata([]string{"azumio.type"}, []string{typ})
	s := arrow.NewSchema(fields, &md)
	schemaCache[typ] = s
	return s
}

// fragmentPrefix are the provenance columns of every fragment stream.
var fragmentPrefix = []arrow.Field{
	{Name: "user_id", Type: utf8},
	{Name: "checkin_id", Type: utf8},
	{Name: "checkin_version", Type: arrow.PrimitiveTypes.Int64},
	{Name: "fragment_id", Type: utf8},
}

// stepsProfileSchema: one row per interval of a steps_profile fragment.
var stepsProfileSchema = arrow.NewSchema(append(append([]arrow.Field(nil), fragmentPrefix...),
	arrow.Field{Name: "timestamp", Type: tsUTC},
	arrow.Field{Name: "interval", Type: arrow.PrimitiveTypes.Int64, Metadata: unitMeta("s")},
	arrow.Field{Name: "steps", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	arrow.Field{Name: extraColumn, Type: utf8, Nullable: true},
), nil)

// pathSchema: one row per point of a path fragment.
var pathSchema = arrow.NewSchema(append(append([]arrow.Field(nil), fragmentPrefix...),
	arrow.Field{Name: "t", Type: tsUTC, Nullable: true},
	arrow.Field{Name: "lat", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	arrow.Field{Name: "lon", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	arrow.Field{Name: "alt", Type: arrow.PrimitiveTypes.Float64, Nullable: true, Metadata: unitMeta("m")},
	arrow.Field{Name: extraColumn, Type: utf8, Nullable: true},
), nil)

// genericFragmentSchema: one row per fragment of a name the source does not know,
// holding the fragment's JSON as it came.
var genericFragmentSchema = arrow.NewSchema(append(append([]arrow.Field(nil), fragmentPrefix...),
	arrow.Field{Name: "data", Type: utf8},
), nil)

// profileSchema: one row per user and profile change.
var profileSchema = arrow.NewSchema([]arrow.Field{
	{Name: "user_id", Type: utf8},
	{Name: "id", Type: utf8, Nullable: true},
	{Name: "name", Type: utf8, Nullable: true},
	{Name: "first_name", Type: utf8, Nullable: true},
	{Name: "gender", Type: utf8, Nullable: true},
	{Name: "birthday", Type: utf8, Nullable: true},
	{Name: "picture", Type: utf8, Nullable: true},
	{Name: extraColumn, Type: utf8, Nullable: true},
}, nil)
