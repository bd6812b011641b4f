package pipeline

import (
	"errors"
	"strings"
	"testing"
)

func TestResourceUUID(t *testing.T) {
	for _, tc := range []struct {
		id, creator, want string
		err               bool
	}{
		// Expected values computed with Python's uuid.uuid5, as Gnocchi does.
		{id: "compute1", creator: "vigil:vigil", want: "1b2aff51-5d0d-5345-96c7-6757d77d5bdf"},
		{id: "my-host.eth0", creator: "u:p", want: "8c1099d1-d95d-5cd5-b787-686726e854ed"},
		{id: "5a301761-f78b-46e2-8900-8b4f6fe6675a", creator: "x", want: "5a301761-f78b-46e2-8900-8b4f6fe6675a"},
		{id: "5A301761F78B46E289008B4F6FE6675A", creator: "x", want: "5a301761-f78b-46e2-8900-8b4f6fe6675a"},
		{id: "{5a301761-f78b-46e2-8900-8b4f6fe6675a}", creator: "x", want: "5a301761-f78b-46e2-8900-8b4f6fe6675a"},
		{id: "a/b", err: true},
		{id: "", err: true},
		{id: strings.Repeat("x", 256), err: true},
	} {
		got, err := ResourceUUID(tc.id, tc.creator)
		if tc.err {
			if !errors.Is(err, ErrBadResourceID) {
				t.Errorf("ResourceUUID(%q) = %v, %v; want ErrBadResourceID", tc.id, got, err)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("ResourceUUID(%q, %q) = %v, %v; want %s", tc.id, tc.creator, got, err, tc.want)
		}
	}
}
