package billing

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/apd/v3"
)

// Format is an export format.
type Format int

// The export formats; FORMAT.md describes each.
const (
	FormatCSV Format = iota + 1
	FormatJSON
	FormatFOCUS
)

// ParseFormat reads "csv", "json" or "focus".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "csv":
		return FormatCSV, nil
	case "json":
		return FormatJSON, nil
	case "focus":
		return FormatFOCUS, nil
	}
	return 0, fmt.Errorf("unknown export format %q (csv, json or focus)", s)
}

// String returns the format's name.
func (f Format) String() string {
	switch f {
	case FormatCSV:
		return "csv"
	case FormatJSON:
		return "json"
	case FormatFOCUS:
		return "focus"
	}
	return "unknown"
}

// Extension is the file name extension of the format, dot included.
func (f Format) Extension() string {
	switch f {
	case FormatJSON:
		return ".json"
	case FormatFOCUS:
		return ".focus.csv"
	}
	return ".csv"
}

// ContentType is the format's media type.
func (f Format) ContentType() string {
	if f == FormatJSON {
		return "application/json"
	}
	return "text/csv; charset=utf-8"
}

// Export rates [from, to) for project (every project when empty) and
// writes the result to w in format ("csv", "json" or "focus"). It is what
// `vigil billing export` runs. Nothing is written when rating fails.
func Export(ctx context.Context, src Source, cfg *Config, from, to time.Time, project string, format string, w io.Writer) error {
	f, err := ParseFormat(format)
	if err != nil {
		return err
	}
	rep, err := Rate(ctx, src, cfg, Query{From: from, To: to, Project: project, Now: time.Now()})
	if err != nil {
		return err
	}
	return rep.Write(w, f)
}

// GeneratedPrefix starts the one line of an export that differs between
// two exports of the same data and configuration: the generation time.
// In CSV and FOCUS files it is a preamble line of its own, the last one;
// in JSON the "generated" member, on a line of its own.
const GeneratedPrefix = "# generated: "

// Write renders the report in format f. The output depends only on the
// report's data, configuration and generation time.
func (r *Report) Write(w io.Writer, f Format) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var err error
	switch f {
	case FormatCSV:
		err = r.writeCSV(bw, false)
	case FormatFOCUS:
		err = r.writeCSV(bw, true)
	case FormatJSON:
		err = r.writeJSON(bw)
	default:
		return fmt.Errorf("unknown export format %d", int(f))
	}
	if err != nil {
		return fmt.Errorf("cannot write the %s export: %w", f, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("cannot write the %s export: %w", f, err)
	}
	return nil
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (r *Report) projectLabel() string {
	if r.Project == "" {
		return "all"
	}
	return r.Project
}

func (r *Report) preamble(w io.Writer, f Format) error {
	format := "vigil-csv-1"
	if f == FormatFOCUS {
		format = "focus-1.0"
	}
	_, err := fmt.Fprintf(w, "# vigil billing export\n# format: %s\n# period: %s/%s\n# usage until: %s\n# project: %s\n# currency: %s\n# config: %s\n# lines: %d\n# total: %s\n%s%s\n",
		format, ts(r.From), ts(r.To), ts(r.Until), oneLine(r.projectLabel()), r.cfg.Currency, r.cfg.Hash,
		len(r.Lines), decText(&r.Total), GeneratedPrefix, ts(r.Generated))
	return err
}

// oneLine keeps a value from breaking out of its preamble line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// cell keeps text that comes from resources from being read as a formula
// by spreadsheets: a leading =, +, -, @, tab or carriage return gets a
// quote before it.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

var csvHeader = []string{"project_id", "user_id", "service", "resource_id", "original_resource_id", "resource_name",
	"resource_type", "charge_start", "charge_end", "quantity", "unit", "unit_price", "cost", "currency",
	"price_list", "rate", "tier", "multiplier", "tags"}

var focusHeader = []string{"AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName",
	"BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass",
	"ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart", "ConsumedQuantity",
	"ConsumedUnit", "ContractedCost", "ContractedUnitPrice", "EffectiveCost", "InvoiceIssuerName", "ListCost",
	"ListUnitPrice", "PricingCategory", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
	"RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory", "ServiceName",
	"SkuId", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags"}

func (r *Report) writeCSV(w io.Writer, focus bool) error {
	f := FormatCSV
	header := csvHeader
	if focus {
		f, header = FormatFOCUS, focusHeader
	}
	if err := r.preamble(w, f); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return err
	}
	row := make([]string, len(header))
	for i := range r.Lines {
		l := &r.Lines[i]
		tagsJSON, err := tagText(l.Tags)
		if err != nil {
			return err
		}
		if focus {
			r.focusRow(row, l, tagsJSON)
		} else {
			tier := ""
			if l.Tier > 0 {
				tier = strconv.Itoa(l.Tier)
			}
			copy(row, []string{cell(l.ProjectID), cell(l.UserID), l.Service.Name, l.ResourceID.String(),
				cell(l.OriginalResourceID), cell(l.ResourceName), l.ResourceType, ts(l.Start), ts(l.End),
				decText(&l.Quantity), l.Service.Unit, decText(&l.UnitPrice), decText(&l.Cost), r.cfg.Currency,
				ts(l.PriceList), l.Rate, tier, l.Multiplier, tagsJSON})
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func (r *Report) focusRow(row []string, l *Line, tagsJSON string) {
	p := r.cfg.Provider
	c := decText(&l.Cost)
	price := decText(&l.UnitPrice)
	q := decText(&l.Quantity)
	copy(row, []string{
		cell(l.Zone), c, p.BillingAccountID, p.BillingAccountName,
		r.cfg.Currency, ts(r.To), ts(r.From), "Usage", "",
		description(l, r.cfg.Currency), "Usage-Based", ts(l.End), ts(l.Start), q,
		l.Service.Unit, c, price, c, p.Name, c,
		price, "Standard", q, l.Service.Unit, p.Name, p.Name,
		p.Region, p.Region, cell(l.OriginalResourceID), cell(l.ResourceName), l.ResourceType, l.Service.Category, l.Service.Name,
		l.Service.Name, skuPriceID(l), cell(l.ProjectID), "", tagsJSON,
	})
}

// description is a line's ChargeDescription: what was used and at which
// price, without reading other columns.
func description(l *Line, currency string) string {
	var b strings.Builder
	if l.Service.Description != "" {
		b.WriteString(l.Service.Description)
	} else {
		b.WriteString(l.Service.Name)
	}
	fmt.Fprintf(&b, ": %s %s × %s %s (%s", decText(&l.Quantity), l.Service.Unit, decText(&l.UnitPrice), currency, l.Rate)
	switch {
	case l.Multiplier == "":
	case l.Service.spec.flavor == flavorVCPUs:
		fmt.Fprintf(&b, ", %s vCPUs", l.Multiplier)
	case l.Service.spec.flavor == flavorMemoryGB:
		fmt.Fprintf(&b, ", %s GB of memory", l.Multiplier)
	}
	fmt.Fprintf(&b, ", prices from %s", l.PriceList.Format(time.RFC3339))
	if l.Tier > 0 {
		fmt.Fprintf(&b, ", tier %d", l.Tier)
	}
	b.WriteByte(')')
	return b.String()
}

func skuPriceID(l *Line) string {
	s := l.Service.Name + "/" + l.PriceList.Format("20060102T150405Z") + "/" + l.Rate
	if l.Tier > 0 {
		s += "/tier" + strconv.Itoa(l.Tier)
	}
	return s
}

// tagText renders tags as a JSON object with sorted keys.
func tagText(t map[string]string) (string, error) {
	if len(t) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("cannot encode tags: %w", err)
	}
	return string(b), nil
}

// jsonExport is the JSON format; fields go out in this order.
type jsonExport struct {
	Format    string     `json:"format"`
	Period    jsonPeriod `json:"period"`
	Project   *string    `json:"project"`
	Currency  string     `json:"currency"`
	Config    string     `json:"config"`
	Total     string     `json:"total"`
	Generated string     `json:"generated"`
	Lines     []jsonLine `json:"lines"`
}

type jsonPeriod struct {
	Start      string `json:"start"`
	End        string `json:"end"`
	UsageUntil string `json:"usage_until"`
}

type jsonLine struct {
	ProjectID          string            `json:"project_id"`
	UserID             string            `json:"user_id"`
	Service            string            `json:"service"`
	ResourceID         string            `json:"resource_id"`
	OriginalResourceID string            `json:"original_resource_id"`
	ResourceName       string            `json:"resource_name"`
	ResourceType       string            `json:"resource_type"`
	ChargeStart        string            `json:"charge_start"`
	ChargeEnd          string            `json:"charge_end"`
	Quantity           string            `json:"quantity"`
	Unit               string            `json:"unit"`
	UnitPrice          string            `json:"unit_price"`
	Cost               string            `json:"cost"`
	PriceList          string            `json:"price_list"`
	Rate               string            `json:"rate"`
	Tier               int               `json:"tier,omitempty"`
	Multiplier         string            `json:"multiplier,omitempty"`
	Tags               map[string]string `json:"tags"`
}

func (r *Report) writeJSON(w io.Writer) error {
	out := jsonExport{
		Format:    "vigil-billing-1",
		Period:    jsonPeriod{Start: ts(r.From), End: ts(r.To), UsageUntil: ts(r.Until)},
		Currency:  r.cfg.Currency,
		Config:    r.cfg.Hash,
		Total:     decText(&r.Total),
		Generated: ts(r.Generated),
		Lines:     make([]jsonLine, len(r.Lines)),
	}
	if r.Project != "" {
		out.Project = &r.Project
	}
	for i := range r.Lines {
		l := &r.Lines[i]
		t := l.Tags
		if t == nil {
			t = map[string]string{}
		}
		out.Lines[i] = jsonLine{
			ProjectID: l.ProjectID, UserID: l.UserID, Service: l.Service.Name, ResourceID: l.ResourceID.String(),
			OriginalResourceID: l.OriginalResourceID, ResourceName: l.ResourceName, ResourceType: l.ResourceType,
			ChargeStart: ts(l.Start), ChargeEnd: ts(l.End), Quantity: decText(&l.Quantity), Unit: l.Service.Unit,
			UnitPrice: decText(&l.UnitPrice), Cost: decText(&l.Cost), PriceList: ts(l.PriceList), Rate: l.Rate,
			Tier: l.Tier, Multiplier: l.Multiplier, Tags: t,
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// Summary is a report's totals per project, by service and by resource.
type Summary struct {
	Period     jsonPeriod       `json:"period"`
	Currency   string           `json:"currency"`
	Config     string           `json:"config"`
	Total      string           `json:"total"`
	Generated  string           `json:"generated"`
	Projects   []ProjectSummary `json:"projects"`
	projectIdx map[string]int
}

// ProjectSummary is one project's totals.
type ProjectSummary struct {
	ProjectID string            `json:"project_id"`
	Total     string            `json:"total"`
	Services  []ServiceTotal    `json:"services"`
	Resources []ResourceSummary `json:"resources"`
	total     apd.Decimal
}

// ServiceTotal is the quantity and cost of one service.
type ServiceTotal struct {
	Service  string `json:"service"`
	Unit     string `json:"unit"`
	Quantity string `json:"quantity"`
	Cost     string `json:"cost"`
	quantity apd.Decimal
	cost     apd.Decimal
}

// ResourceSummary is the cost of one resource, by service.
type ResourceSummary struct {
	ResourceID         string         `json:"resource_id"`
	OriginalResourceID string         `json:"original_resource_id"`
	ResourceName       string         `json:"resource_name"`
	ResourceType       string         `json:"resource_type"`
	Total              string         `json:"total"`
	Services           []ServiceTotal `json:"services"`
	total              apd.Decimal
}

// Summarize totals the report per project (the projects given always
// appear, with zero totals when they have no lines), by service and by
// resource, in the order of the lines.
func (r *Report) Summarize(projects ...string) *Summary {
	s := &Summary{
		Period:     jsonPeriod{Start: ts(r.From), End: ts(r.To), UsageUntil: ts(r.Until)},
		Currency:   r.cfg.Currency,
		Config:     r.cfg.Hash,
		Total:      decText(&r.Total),
		Generated:  ts(r.Generated),
		Projects:   []ProjectSummary{},
		projectIdx: map[string]int{},
	}
	project := func(id string) *ProjectSummary {
		i, ok := s.projectIdx[id]
		if !ok {
			i = len(s.Projects)
			s.projectIdx[id] = i
			s.Projects = append(s.Projects, ProjectSummary{ProjectID: id, Services: []ServiceTotal{}, Resources: []ResourceSummary{}})
		}
		return &s.Projects[i]
	}
	for _, p := range projects {
		project(p)
	}
	resIdx := map[string]map[string]int{}
	for i := range r.Lines {
		l := &r.Lines[i]
		ps := project(l.ProjectID)
		mustExact(exact.Add(&ps.total, &ps.total, &l.Cost))
		addService(&ps.Services, l)
		ri, ok := resIdx[l.ProjectID]
		if !ok {
			ri = map[string]int{}
			resIdx[l.ProjectID] = ri
		}
		k, ok := ri[l.ResourceID.String()]
		if !ok {
			k = len(ps.Resources)
			ri[l.ResourceID.String()] = k
			ps.Resources = append(ps.Resources, ResourceSummary{ResourceID: l.ResourceID.String(),
				OriginalResourceID: l.OriginalResourceID, ResourceName: l.ResourceName, ResourceType: l.ResourceType,
				Services: []ServiceTotal{}})
		}
		rs := &ps.Resources[k]
		mustExact(exact.Add(&rs.total, &rs.total, &l.Cost))
		addService(&rs.Services, l)
		if l.ResourceName != "" {
			rs.ResourceName = l.ResourceName
		}
	}
	places := r.cfg.Rounding.Places
	money := func(d *apd.Decimal) string {
		var x apd.Decimal
		mustExact(exact.Quantize(&x, d, -places))
		return decText(&x)
	}
	for i := range s.Projects {
		ps := &s.Projects[i]
		ps.Total = money(&ps.total)
		for j := range ps.Services {
			finishService(&ps.Services[j], money)
		}
		for j := range ps.Resources {
			rs := &ps.Resources[j]
			rs.Total = money(&rs.total)
			for k := range rs.Services {
				finishService(&rs.Services[k], money)
			}
		}
	}
	return s
}

func addService(list *[]ServiceTotal, l *Line) {
	for i := range *list {
		st := &(*list)[i]
		if st.Service == l.Service.Name {
			mustExact(exact.Add(&st.quantity, &st.quantity, &l.Quantity))
			mustExact(exact.Add(&st.cost, &st.cost, &l.Cost))
			return
		}
	}
	*list = append(*list, ServiceTotal{Service: l.Service.Name, Unit: l.Service.Unit})
	st := &(*list)[len(*list)-1]
	st.quantity.Set(&l.Quantity)
	st.cost.Set(&l.Cost)
}

func finishService(st *ServiceTotal, money func(*apd.Decimal) string) {
	st.Quantity = decText(&st.quantity)
	st.Cost = money(&st.cost)
}
