/**
 * `ImgFile`: use-fireproof's `<img>` for a file: a `File`, or a file read
 * back from a document (`doc._files[name]`, whose `file()` reads it, from a
 * sync point if this device lacks it). The object URL is revoked when the
 * file changes or the image unmounts.
 *
 * @module
 */
import { createElement, useEffect, useState, type ImgHTMLAttributes, type ReactElement } from "react";

/** A `File`/`Blob`, or something with `file()` that reads one (a `DocFileMeta`). */
export type ImgFileSource = Blob | { readonly type?: string; file(): Promise<File> };

/** Props of {@link ImgFile}: the file (`file`, or use-fireproof's older `meta`), and any `<img>` attribute. */
export interface ImgFileProps extends ImgHTMLAttributes<HTMLImageElement> {
  file?: ImgFileSource;
  meta?: ImgFileSource;
}

/** Renders the image in `file` (nothing until it is read, or if it is not an image). */
export function ImgFile({ file, meta, ...img }: ImgFileProps): ReactElement | null {
  const source = file ?? meta;
  const [url, setUrl] = useState<string | undefined>(undefined);
  useEffect(() => {
    if (source === undefined) return;
    let active = true;
    let made: string | undefined;
    const read = source instanceof Blob ? Promise.resolve(source) : source.file();
    read.then(
      (blob) => {
        if (!active || !blob.type.startsWith("image/")) return;
        made = URL.createObjectURL(blob);
        setUrl(made);
      },
      () => undefined,
    );
    return () => {
      active = false;
      if (made) URL.revokeObjectURL(made);
      setUrl(undefined);
    };
  }, [source]);
  return url === undefined ? null : createElement("img", { ...img, src: url });
}
