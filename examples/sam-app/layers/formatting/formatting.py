"""Date formatting for reports (FormattingLayer)."""

from dateutil import parser


def long_date(text):
    moment = parser.isoparse(text)
    return moment.strftime("%A %d %B %Y, %H:%M")
