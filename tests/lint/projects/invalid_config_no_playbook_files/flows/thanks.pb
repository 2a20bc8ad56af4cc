playbook thanks {
  trigger event order.paid
  step thank { send wecom "{{ customer.name }}，收到啦" }
}
