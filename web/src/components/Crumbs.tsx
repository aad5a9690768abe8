import { Fragment, type ReactNode } from "react";

/** MUI's Breadcrumbs as it drew them (a nav of body1 text, "/" between the items), plain elements styled in
 *  shell.css: no emotion styling on the page's first render. */
export function Crumbs({ children }: { children: ReactNode[] }) {
  const items = children.filter((c) => c !== null && c !== undefined && c !== false && c !== "");
  return (
    <nav aria-label="breadcrumb" className="kl-crumbs kl-body1">
      <ol>
        {items.map((c, i) => <Fragment key={i}>{i > 0 && <li aria-hidden="true" className="sep">/</li>}<li>{c}</li></Fragment>)}
      </ol>
    </nav>
  );
}
