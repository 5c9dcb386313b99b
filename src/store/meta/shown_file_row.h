// What a listing of files reads from a row, the same for both SQL stores.
#pragma once

#include <string>

#include "model/objects.h"

namespace fileport {

// The columns of a file that its wire object shows (a FileQuery with shown_fields_only), in
// the order ReadShownFile reads them; each store's list of all a file's columns starts with
// them. A macro so that it joins the literals of a statement.
#define FP_SHOWN_FILE_COLS \
  "id, purpose, bytes, created_at, expires_at, filename, status, status_details"

// The file of one row of FP_SHOWN_FILE_COLS, which belongs to `project`; segments and
// mime_type are left empty. `Row` is a store's row (or a view of one), with Text, Int,
// OptInt and OptText by column index.
template <class Row>
File ReadShownFile(Row&& r, const std::string& project) {
  File f;
  f.id = r.Text(0);
  f.project = project;
  f.purpose = r.Text(1);
  f.bytes = r.Int(2);
  f.created_at = r.Int(3);
  f.expires_at = r.OptInt(4);
  f.filename = r.Text(5);
  f.status = r.Text(6);
  f.status_details = r.OptText(7);
  return f;
}

}  // namespace fileport
