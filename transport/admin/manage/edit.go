package manage

import (
	"fmt"
	"reflect"
	"strings"
)

// EditField applies Exchange's @{Add=...; Remove=...} to the multi-valued
// field name of the struct ptr points to: each value in add that is not
// there yet is appended, each value in remove is taken out, the others stay
// in their order. Values compare in their canonical form (as the field
// prints them), case-insensitively. Removing a value that is not there
// changes nothing, as in Exchange.
func EditField(ptr any, name string, add, remove []string) error {
	rv := reflect.ValueOf(ptr).Elem()
	f := rv.FieldByName(name)
	if !f.IsValid() {
		return fmt.Errorf("unknown parameter -%s", name)
	}
	if f.Kind() != reflect.Slice {
		return fmt.Errorf("-%s takes one value, not @{Add=...; Remove=...}: give the new value", name)
	}
	canon := func(text string) (reflect.Value, string, error) {
		one := reflect.New(f.Type()).Elem()
		if err := setValue(one, text); err != nil {
			return reflect.Value{}, "", fmt.Errorf("-%s %q: %w", name, text, err)
		}
		if one.Len() != 1 {
			return reflect.Value{}, "", fmt.Errorf("-%s %q: give one value per item", name, text)
		}
		return one.Index(0), strings.ToLower(FormatValue(one.Index(0))), nil
	}
	drop := map[string]bool{}
	for _, r := range remove {
		_, key, err := canon(r)
		if err != nil {
			return err
		}
		drop[key] = true
	}
	out := reflect.MakeSlice(f.Type(), 0, f.Len()+len(add))
	have := map[string]bool{}
	for i := range f.Len() {
		key := strings.ToLower(FormatValue(f.Index(i)))
		if drop[key] || have[key] {
			continue
		}
		have[key] = true
		out = reflect.Append(out, f.Index(i))
	}
	for _, a := range add {
		v, key, err := canon(a)
		if err != nil {
			return err
		}
		if have[key] || drop[key] {
			continue
		}
		have[key] = true
		out = reflect.Append(out, v)
	}
	f.Set(out)
	return nil
}
