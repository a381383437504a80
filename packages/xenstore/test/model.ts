/**
 * A plain model of the store for the property tests: a map from path to value under a private
 * root, every ancestor implied. Written independently of src/ (no shared helpers).
 */
export const ROOT = "/t";

export type Outcome = string | { error: string };

export class StoreModel {
  readonly nodes = new Map<string, string>([[ROOT, ""]]);

  clone(): StoreModel {
    const m = new StoreModel();
    m.nodes.clear();
    for (const [k, v] of this.nodes) m.nodes.set(k, v);
    return m;
  }

  private parent(p: string): string {
    return p.slice(0, p.lastIndexOf("/"));
  }

  children(p: string): string[] {
    const prefix = `${p}/`;
    return [...this.nodes.keys()]
      .filter((k) => k.startsWith(prefix) && !k.slice(prefix.length).includes("/"))
      .map((k) => k.slice(prefix.length))
      .sort();
  }

  /** Returns the paths whose watches fire: [path, exact]. */
  write(p: string, v: string): [string, boolean][] {
    let q = this.parent(p);
    while (!this.nodes.has(q)) {
      this.nodes.set(q, "");
      q = this.parent(q);
    }
    this.nodes.set(p, v);
    return [[p, false]];
  }

  mkdir(p: string): [string, boolean][] {
    if (this.nodes.has(p)) return [];
    return this.write(p, "");
  }

  rm(p: string): [string, boolean][] | { error: string } {
    if (!this.nodes.has(p)) return this.nodes.has(this.parent(p)) ? [] : { error: "ENOENT" };
    const out: [string, boolean][] = [];
    for (const k of [...this.nodes.keys()]) {
      if (k.startsWith(`${p}/`)) {
        out.push([k, true]);
        this.nodes.delete(k);
      }
    }
    this.nodes.delete(p);
    out.push([p, false]);
    return out;
  }

  read(p: string): Outcome {
    const v = this.nodes.get(p);
    return v === undefined ? { error: "ENOENT" } : v;
  }

  directory(p: string): Outcome {
    return this.nodes.has(p) ? this.children(p).join(",") : { error: "ENOENT" };
  }
}

/** Which watches (by path) fire for a change, per the xenstored rules. */
export function watchFires(watchPath: string, change: [string, boolean]): boolean {
  const [p, exact] = change;
  return exact ? p === watchPath : p === watchPath || p.startsWith(`${watchPath}/`);
}
