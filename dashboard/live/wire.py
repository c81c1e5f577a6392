"""The Socket.IO packets this server sends, their JSON written by orjson (core/jsontext.py).

python-socketio walks every packet's data in Python to look for bytes (`data_is_binary`), then has
`json` write it: for a batch of changes, two passes in Python over every change, once per group of
clients. Here orjson writes the data once, in C; a value orjson refuses (bytes, which become
attachments, or anything it cannot write exactly) takes python-socketio's own path. The server is
given this class as its `serializer` (python-socketio accepts a Packet subclass there).
"""
from engineio import json as eio_json
from socketio import packet as sio_packet

from dashboard.core import jsontext


class _WireJson:
    """The json module python-socketio is given: writes with jsontext; reads with jsontext and
    engineio's own guard against integers of more than 100 digits (what its default json does)."""

    dumps = staticmethod(jsontext.dumps)

    @staticmethod
    def loads(text, **kwargs):
        kwargs.setdefault("parse_int", eio_json._safe_int)
        return jsontext.loads(text, **kwargs)


class JsonPacket(sio_packet.Packet):
    """A Socket.IO packet whose data is written by orjson when it can be, else as python-socketio
    writes it; received packets are read with core.jsontext.loads."""

    json = _WireJson

    def __init__(self, packet_type=sio_packet.EVENT, data=None, namespace=None, id=None,
                 binary=None, encoded_packet=None):
        self.text = None  # the data's JSON text, written once here (events and acks: the rest,
        # a connect's data for one, python-socketio writes, and it would be written twice)
        if encoded_packet is None and binary is None and data is not None \
                and packet_type in (sio_packet.EVENT, sio_packet.ACK):
            self.text = jsontext.compact(data)
            if self.text is not None:
                binary = False  # orjson writes no bytes: nothing to attach
        super().__init__(packet_type, data, namespace, id, binary, encoded_packet)

    def encode(self):
        """The packet's text, as Packet.encode() writes it (type, namespace, id, data)."""
        if self.text is None or self.packet_type not in (sio_packet.EVENT, sio_packet.ACK):
            return super().encode()
        encoded = str(self.packet_type)
        if self.namespace is not None and self.namespace != "/":
            encoded += self.namespace + ","
        if self.id is not None:
            encoded += str(self.id)
        return encoded + self.text
