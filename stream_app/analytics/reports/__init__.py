"""Consumption reports of a dataset as PDF (matplotlib, a CJK font for zh-CN) or XLSX (openpyxl, native
charts): :func:`stream_app.analytics.reports.render.render_report`."""
