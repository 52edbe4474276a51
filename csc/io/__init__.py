"""Model files: versioned `.npz` archives of plain arrays (no pickle), written atomically and read
without trusting them. One job a module: `files` (writing any file atomically), `archive`
(reading a zip of `.npy` arrays without trusting it), `model_file` (the format: tag, version,
kind, the registry of classes, save and read) and `schema` (checking what a file holds).

This package knows no model class. Each class turns itself into plain arrays (`to_arrays`) and
back (`from_arrays`), and registers the `kind` of file it reads with `@register("kind")`;
`read_model` (and `csc.load`) reads the stored kind and hands the arrays to that class.

A file holds `format` ("csc-model"), `version`, `kind` and the model's arrays (JSON documents are
stored as 0-d string arrays: see `json_array` / `require_json`; learning histories as one array
per column: `history_arrays` / `read_history`). Files of version 1 carry no `kind`: they are a
"pixel-model" when they hold whitener arrays, else a "coder". Files of version 2 carry learning
histories inside their JSON "state" documents; they still load.

What `read` accepts, member by member, before decompressing anything (csc writes every member
stored, uncompressed, with `np.savez`):
- at most `MAX_MEMBERS` members, each named `<name>.npy` (letters, digits, "_"), each once;
  stored or deflated, not encrypted;
- each member at most `MAX_MEMBER_BYTES` unpacked, all together at most `MAX_TOTAL_BYTES` and at
  most `MAX_EXPANSION` times the file's size (a zip bomb unpacks a thousand times its size);
- a `.npy` header (format 1.0 or 2.0) declaring a dtype of booleans, integers, floats, complex
  numbers or text (no objects, so no pickle; no structured dtypes), and a shape whose bytes
  fill the member exactly: a header that declares more than the member holds is refused
  before anything is allocated.
Only then is each array read, from the member's bounded stream. `read_model` hands them to the
registered class, whose `from_arrays` checks the structure with `require_array`,
`require_scalar`, `require_json`, `require_field`, `json_numbers` and `read_history`: every key it
needs, each array's dtype kind and shape and their agreement with one another, finite floats,
and JSON documents of the expected types (JSON NaN and Infinity are refused).

Whatever is wrong with a file, `read`, `read_model` and `load_extra` raise one `ValueError` of
one line naming the file and the problem (FileNotFoundError when there is no file).
"""

from csc.io.archive import (
    ARRAY_KINDS,
    MAX_EXPANSION,
    MAX_MEMBER_BYTES,
    MAX_MEMBERS,
    MAX_TOTAL_BYTES,
)
from csc.io.files import atomic_write, remove_stale_temporaries, write_json
from csc.io.model_file import (
    FORMAT,
    VERSION,
    from_json_array,
    history_arrays,
    json_array,
    load_extra,
    read,
    read_model,
    register,
    save,
)
from csc.io.schema import (
    in_part,
    json_numbers,
    one_line,
    read_history,
    require_array,
    require_field,
    require_json,
    require_kwargs,
    require_scalar,
    restore_rng,
    strip_prefix,
    with_prefix,
)

__all__ = ["ARRAY_KINDS", "FORMAT", "MAX_EXPANSION", "MAX_MEMBERS", "MAX_MEMBER_BYTES",
           "MAX_TOTAL_BYTES", "VERSION", "atomic_write", "from_json_array", "history_arrays",
           "in_part", "json_array", "json_numbers", "load_extra", "one_line", "read",
           "read_history", "read_model", "register", "remove_stale_temporaries",
           "require_array", "require_field", "require_json", "require_kwargs",
           "require_scalar", "restore_rng", "save", "strip_prefix", "with_prefix", "write_json"]
