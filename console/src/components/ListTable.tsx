import type { HTMLAttributes, ReactNode } from "react";
import { Empty, ErrorBox, Loading } from "./Status";
import { useApp } from "./context";

export interface Column<T> {
  /** Header text (already translated); empty for a column of buttons. */
  header: ReactNode;
  cell: (row: T) => ReactNode;
  className?: string;
}

/** A list's states in one place: the API's error, loading (only before the first answer), empty, or the
 * table (scrolls sideways on a phone), then an optional footer (paging, "show all"). */
export function ListTable<T>({
  rows,
  columns,
  rowKey,
  rowProps,
  testId,
  loading,
  error,
  emptyText,
  footer,
}: {
  rows: readonly T[] | undefined;
  columns: readonly Column<T>[];
  rowKey: (row: T) => string;
  rowProps?: (row: T) => HTMLAttributes<HTMLTableRowElement> & Record<`data-${string}`, string>;
  testId: string;
  loading: boolean;
  error: unknown;
  emptyText?: string;
  footer?: ReactNode;
}): ReactNode {
  const { t } = useApp();
  return (
    <>
      <ErrorBox error={error} />
      {loading && !rows ? <Loading text={t("loading")} /> : null}
      {rows && !rows.length ? <Empty text={emptyText ?? t("empty")} /> : null}
      {rows?.length ? (
        <div className="table-wrap">
          <table data-testid={testId}>
            <thead>
              <tr>
                {columns.map((c, i) => (
                  <th key={i}>{c.header}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={rowKey(r)} {...(rowProps ? rowProps(r) : {})}>
                  {columns.map((c, i) => (
                    <td key={i} className={c.className}>
                      {c.cell(r)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {rows?.length ? footer : null}
    </>
  );
}
