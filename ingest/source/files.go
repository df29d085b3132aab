package source

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// StdinName is the argument and unit name that stands for standard input.
const StdinName = "-"

// LocalUnits expands local arguments into units: a file is itself, a
// directory is every regular file below it (recursively, hidden files and
// directories skipped), "-" is stdin. Files of a directory are sorted by path
// so that the order, and so the replay, is the same on every run; arguments
// keep the order they were given in.
func LocalUnits(args []string, stdin io.Reader) ([]Unit, error) {
	var units []Unit
	for _, arg := range args {
		if arg == StdinName {
			units = append(units, Unit{Name: StdinName, Size: -1, Open: func(context.Context) (io.ReadCloser, error) {
				return io.NopCloser(stdin), nil
			}})
			continue
		}
		fi, err := os.Stat(arg)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", arg, err)
		}
		if !fi.IsDir() {
			units = append(units, fileUnit(arg, fi.Size()))
			continue
		}
		var found []Unit
		err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != arg && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			found = append(found, fileUnit(p, info.Size()))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", arg, err)
		}
		sort.Slice(found, func(i, j int) bool { return found[i].Name < found[j].Name })
		units = append(units, found...)
	}
	return units, nil
}

func fileUnit(path string, size int64) Unit {
	return Unit{Name: path, Size: size, Open: func(context.Context) (io.ReadCloser, error) {
		return os.Open(path)
	}}
}
