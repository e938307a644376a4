#!/usr/bin/env python3
"""Prints the public API of one crate, one sorted line per item, from rustdoc's JSON output.

Usage: public-api-listing.py target/doc/<crate>.json

Every item reachable from the crate root through public modules and re-exports is listed at its
shortest public path with its signature (functions, fields, variants, constants, type aliases,
trait items, inherent methods and the traits a type implements). Other public paths of the same
item are listed as `alias <path> => <canonical path>`, and re-exports of other crates' items as
`pub use <path> = <source>`, so a type of another crate surfacing in the API is visible.
Auto-trait and blanket implementations are left out: they follow from the fields and bounds.
"""

import json
import re
import sys

# k8s-openapi puts its types under a module named after the Kubernetes version the final binary
# chose (`k8s_openapi::v1_36::...`); the listing names them version-free, as users import them.
K8S_OPENAPI_VERSION_MODULE = re.compile(r"k8s_openapi::v1_[0-9]+::")


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        doc = json.load(handle)
    listing = Listing(doc)
    listing.walk()
    lines = {K8S_OPENAPI_VERSION_MODULE.sub("k8s_openapi::", line) for line in listing.lines}
    for line in sorted(lines):
        print(line)


class Listing:
    def __init__(self, doc):
        self.index = doc["index"]
        self.paths = doc.get("paths", {})
        self.root = str(doc["root"])
        self.crate_name = self.index[self.root]["name"]
        self.lines = []
        # item id -> every public path it is reachable at
        self.reachable = {}
        self.canonical = {}

    # --- reachability ---------------------------------------------------------------------

    def walk(self) -> None:
        self.visit_module(self.root, [self.crate_name], set())
        # Name this crate's types by their public path, not the private module defining them.
        self.canonical = {
            item_id: "::".join(sorted(paths, key=lambda p: (len(p), p))[0])
            for item_id, paths in self.reachable.items()
        }
        for item_id, paths in sorted(self.reachable.items()):
            ordered = sorted(paths, key=lambda p: (len(p), p))
            canonical = self.canonical[item_id]
            for other in ordered[1:]:
                self.lines.append(f"alias {'::'.join(other)} => {canonical}")
            self.describe(self.index[item_id], canonical)

    def visit_module(self, module_id, path, seen) -> None:
        if module_id in seen:
            return
        seen = seen | {module_id}
        module = self.index[module_id]["inner"]["module"]
        for child_id in module["items"]:
            child = self.index.get(str(child_id))
            if child is None or child.get("visibility") != "public":
                continue
            kind = kind_of(child)
            if kind == "use":
                self.visit_use(child, path, seen)
            elif kind == "impl":
                continue
            else:
                self.reach(str(child_id), path + [child["name"]], seen)

    def visit_use(self, item, path, seen) -> None:
        use = item["inner"]["use"]
        target_id = None if use.get("id") is None else str(use["id"])
        target = self.index.get(target_id) if target_id is not None else None
        if use.get("is_glob"):
            if target is not None and kind_of(target) == "module":
                self.visit_module(target_id, path, seen)
            else:
                self.lines.append(f"pub use {'::'.join(path)}::* = {use['source']}::*")
            return
        if target is None or target.get("crate_id") != 0:
            self.lines.append(f"pub use {'::'.join(path + [use['name']])} = {use['source']}")
            return
        self.reach(target_id, path + [use["name"]], seen)

    def reach(self, item_id, path, seen) -> None:
        self.reachable.setdefault(item_id, set()).add(tuple(path))
        item = self.index[item_id]
        if kind_of(item) == "module":
            self.visit_module(item_id, path, seen)

    # --- descriptions ---------------------------------------------------------------------

    def describe(self, item, path) -> None:
        kind = kind_of(item)
        inner = item["inner"][kind]
        if kind == "module":
            self.lines.append(f"pub mod {path}")
        elif kind == "function":
            self.lines.append(self.function(path, inner))
        elif kind == "constant":
            self.lines.append(f"pub const {path}: {self.ty(inner['type'])}")
        elif kind == "static":
            mutable = "mut " if inner.get("is_mutable") else ""
            self.lines.append(f"pub static {mutable}{path}: {self.ty(inner['type'])}")
        elif kind == "type_alias":
            generics = self.generic_params(inner["generics"])
            self.lines.append(f"pub type {path}{generics} = {self.ty(inner['type'])}")
        elif kind == "macro":
            self.lines.append(f"macro {path}!")
        elif kind == "struct":
            self.struct(path, inner)
        elif kind == "enum":
            self.enumeration(path, inner)
        elif kind == "union":
            self.lines.append(f"pub union {path}{self.generic_params(inner['generics'])}")
            self.fields(path, inner.get("fields", []))
            self.impls(path, inner.get("impls", []))
        elif kind == "trait":
            self.trait(path, inner)
        else:
            self.lines.append(f"pub {kind} {path}")

    def struct(self, path, inner) -> None:
        generics = self.generic_params(inner["generics"])
        struct_kind = inner["kind"]
        if struct_kind == "unit":
            self.lines.append(f"pub struct {path}{generics}")
        elif "tuple" in struct_kind:
            fields = [
                self.ty(self.index[str(f)]["inner"]["struct_field"]) if f is not None else "_"
                for f in struct_kind["tuple"]
            ]
            self.lines.append(f"pub struct {path}{generics}({', '.join(fields)})")
        else:
            plain = struct_kind["plain"]
            stripped = " (private fields)" if plain.get("has_stripped_fields") else ""
            self.lines.append(f"pub struct {path}{generics}{stripped}")
            self.fields(path, plain["fields"])
        self.impls(path, inner.get("impls", []))

    def enumeration(self, path, inner) -> None:
        generics = self.generic_params(inner["generics"])
        attrs = ""
        self.lines.append(f"pub enum {path}{generics}{attrs}")
        for variant_id in inner["variants"]:
            variant = self.index[str(variant_id)]
            vpath = f"{path}::{variant['name']}"
            vkind = variant["inner"]["variant"]["kind"]
            if vkind == "plain":
                self.lines.append(f"pub variant {vpath}")
            elif "tuple" in vkind:
                fields = [
                    self.ty(self.index[str(f)]["inner"]["struct_field"]) if f is not None else "_"
                    for f in vkind["tuple"]
                ]
                self.lines.append(f"pub variant {vpath}({', '.join(fields)})")
            else:
                self.lines.append(f"pub variant {vpath} {{ .. }}")
                self.fields(vpath, vkind["struct"]["fields"])
        self.impls(path, inner.get("impls", []))

    def trait(self, path, inner) -> None:
        generics = self.generic_params(inner["generics"])
        bounds = self.bounds(inner.get("bounds", []))
        bounds = f": {bounds}" if bounds else ""
        self.lines.append(f"pub trait {path}{generics}{bounds}")
        for member_id in inner["items"]:
            member = self.index[str(member_id)]
            self.assoc(f"{path}::{member['name']}", member)

    def fields(self, path, field_ids) -> None:
        for field_id in field_ids:
            field = self.index[str(field_id)]
            if field.get("visibility") != "public":
                continue
            self.lines.append(f"pub field {path}::{field['name']}: {self.ty(field['inner']['struct_field'])}")

    def impls(self, path, impl_ids) -> None:
        for impl_id in impl_ids:
            impl_item = self.index.get(str(impl_id))
            if impl_item is None:
                continue
            impl = impl_item["inner"]["impl"]
            if impl.get("is_synthetic") or impl.get("blanket_impl") is not None:
                continue
            if impl.get("trait") is not None:
                negative = "!" if impl.get("is_negative") else ""
                target = self.ty(impl["for"])
                self.lines.append(f"impl {negative}{self.path_type(impl['trait'])} for {target}")
                continue
            for member_id in impl["items"]:
                member = self.index.get(str(member_id))
                if member is None or member.get("visibility") != "public":
                    continue
                self.assoc(f"{path}::{member['name']}", member)

    def assoc(self, path, member) -> None:
        kind = kind_of(member)
        inner = member["inner"][kind]
        if kind == "function":
            self.lines.append(self.function(path, inner))
        elif kind == "assoc_const":
            self.lines.append(f"pub const {path}: {self.ty(inner['type'])}")
        elif kind == "constant":
            self.lines.append(f"pub const {path}: {self.ty(inner['type'])}")
        elif kind == "assoc_type":
            bounds = self.bounds(inner.get("bounds", []))
            default = f" = {self.ty(inner['type'])}" if inner.get("type") is not None else ""
            self.lines.append(f"type {path}{': ' + bounds if bounds else ''}{default}")
        else:
            self.lines.append(f"pub {kind} {path}")

    def function(self, path, inner) -> str:
        header = inner.get("header", {})
        qualifiers = "".join(
            word + " "
            for word, flag in (
                ("const", header.get("is_const")),
                ("async", header.get("is_async")),
                ("unsafe", header.get("is_unsafe")),
            )
            if flag
        )
        sig = inner["sig"]
        inputs = []
        for name, ty in sig["inputs"]:
            if name == "self":
                inputs.append(self.self_param(ty))
            else:
                inputs.append(f"{name}: {self.ty(ty)}")
        output = f" -> {self.ty(sig['output'])}" if sig.get("output") is not None else ""
        generics = self.generic_params(inner["generics"])
        where = self.where_clause(inner["generics"])
        return f"pub {qualifiers}fn {path}{generics}({', '.join(inputs)}){output}{where}"

    def self_param(self, ty) -> str:
        if ty == {"generic": "Self"}:
            return "self"
        if "borrowed_ref" in ty and ty["borrowed_ref"]["type"] == {"generic": "Self"}:
            ref = ty["borrowed_ref"]
            lifetime = f"{ref['lifetime']} " if ref.get("lifetime") else ""
            return f"&{lifetime}{'mut ' if ref['is_mutable'] else ''}self"
        return f"self: {self.ty(ty)}"

    # --- types ----------------------------------------------------------------------------

    def generic_params(self, generics) -> str:
        params = []
        for param in generics.get("params", []):
            kind = param["kind"]
            if "lifetime" in kind:
                outlives = kind["lifetime"].get("outlives") or []
                params.append(param["name"] + (": " + " + ".join(outlives) if outlives else ""))
            elif "type" in kind:
                if kind["type"].get("is_synthetic"):
                    continue
                bounds = self.bounds(kind["type"].get("bounds", []))
                default = kind["type"].get("default")
                text = param["name"] + (f": {bounds}" if bounds else "")
                if default is not None:
                    text += f" = {self.ty(default)}"
                params.append(text)
            elif "const" in kind:
                params.append(f"const {param['name']}: {self.ty(kind['const']['type'])}")
        return f"<{', '.join(params)}>" if params else ""

    def where_clause(self, generics) -> str:
        predicates = []
        for predicate in generics.get("where_predicates", []):
            if "bound_predicate" in predicate:
                bound = predicate["bound_predicate"]
                predicates.append(f"{self.ty(bound['type'])}: {self.bounds(bound['bounds'])}")
            elif "lifetime_predicate" in predicate:
                lifetime = predicate["lifetime_predicate"]
                predicates.append(f"{lifetime['lifetime']}: {' + '.join(lifetime['outlives'])}")
            elif "eq_predicate" in predicate:
                eq = predicate["eq_predicate"]
                predicates.append(f"{self.ty(eq['lhs'])} == {self.term(eq['rhs'])}")
        return f" where {', '.join(predicates)}" if predicates else ""

    def bounds(self, bounds) -> str:
        rendered = []
        for bound in bounds:
            if "trait_bound" in bound:
                trait_bound = bound["trait_bound"]
                modifier = {"maybe": "?", "maybe_const": "~const "}.get(trait_bound.get("modifier"), "")
                rendered.append(modifier + self.path_type(trait_bound["trait"]))
            elif "outlives" in bound:
                rendered.append(bound["outlives"])
            elif "use" in bound:
                rendered.append("use<..>")
        return " + ".join(rendered)

    def term(self, term) -> str:
        if isinstance(term, dict) and "type" in term:
            return self.ty(term["type"])
        if isinstance(term, dict) and "constant" in term:
            return str(term["constant"].get("expr", "_"))
        return str(term)

    def path_type(self, path) -> str:
        item_id = str(path.get("id"))
        summary = self.paths.get(item_id)
        if item_id in self.canonical:
            name = self.canonical[item_id]
        elif summary:
            name = "::".join(summary["path"])
        else:
            name = path["path"]
        return name + self.generic_args(path.get("args"))

    def generic_args(self, args) -> str:
        if not args:
            return ""
        if "angle_bracketed" in args:
            angle = args["angle_bracketed"]
            parts = []
            for arg in angle.get("args", []):
                if "lifetime" in arg:
                    parts.append(arg["lifetime"])
                elif "type" in arg:
                    parts.append(self.ty(arg["type"]))
                elif "const" in arg:
                    parts.append(str(arg["const"].get("expr", "_")))
                else:
                    parts.append("_")
            for constraint in angle.get("constraints", []):
                binding = constraint.get("binding", {})
                if "equality" in binding:
                    parts.append(f"{constraint['name']} = {self.term(binding['equality'])}")
                elif "constraint" in binding:
                    parts.append(f"{constraint['name']}: {self.bounds(binding['constraint'])}")
            return f"<{', '.join(parts)}>" if parts else ""
        if "parenthesized" in args:
            paren = args["parenthesized"]
            inputs = ", ".join(self.ty(t) for t in paren["inputs"])
            output = f" -> {self.ty(paren['output'])}" if paren.get("output") is not None else ""
            return f"({inputs}){output}"
        return ""

    def ty(self, ty) -> str:
        if ty is None:
            return "()"
        if isinstance(ty, str):
            return "_" if ty == "infer" else ty
        if "resolved_path" in ty:
            return self.path_type(ty["resolved_path"])
        if "generic" in ty:
            return ty["generic"]
        if "primitive" in ty:
            return ty["primitive"]
        if "borrowed_ref" in ty:
            ref = ty["borrowed_ref"]
            lifetime = f"{ref['lifetime']} " if ref.get("lifetime") else ""
            return f"&{lifetime}{'mut ' if ref['is_mutable'] else ''}{self.ty(ref['type'])}"
        if "tuple" in ty:
            return "(" + ", ".join(self.ty(t) for t in ty["tuple"]) + ")"
        if "slice" in ty:
            return f"[{self.ty(ty['slice'])}]"
        if "array" in ty:
            return f"[{self.ty(ty['array']['type'])}; {ty['array']['len']}]"
        if "raw_pointer" in ty:
            pointer = ty["raw_pointer"]
            return f"*{'mut' if pointer['is_mutable'] else 'const'} {self.ty(pointer['type'])}"
        if "impl_trait" in ty:
            return "impl " + self.bounds(ty["impl_trait"])
        if "dyn_trait" in ty:
            dyn = ty["dyn_trait"]
            traits = [self.path_type(poly["trait"]) for poly in dyn["traits"]]
            if dyn.get("lifetime"):
                traits.append(dyn["lifetime"])
            return "dyn " + " + ".join(traits)
        if "qualified_path" in ty:
            qualified = ty["qualified_path"]
            trait = qualified.get("trait")
            self_type = self.ty(qualified["self_type"])
            prefix = f"<{self_type} as {self.path_type(trait)}>" if trait else self_type
            return f"{prefix}::{qualified['name']}{self.generic_args(qualified.get('args'))}"
        if "function_pointer" in ty:
            pointer = ty["function_pointer"]
            sig = pointer["sig"]
            inputs = ", ".join(self.ty(t) for _, t in sig["inputs"])
            output = f" -> {self.ty(sig['output'])}" if sig.get("output") is not None else ""
            return f"fn({inputs}){output}"
        if "pat" in ty:
            return self.ty(ty["pat"]["type"])
        return json.dumps(ty, sort_keys=True)


def kind_of(item) -> str:
    inner = item["inner"]
    return inner if isinstance(inner, str) else next(iter(inner))


if __name__ == "__main__":
    main()
